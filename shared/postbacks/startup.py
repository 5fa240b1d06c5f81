"""Start-up against Kafka and ClickHouse: wait for what is not up yet, refuse what is misconfigured.

A service started before its broker or database answers (a compose file, a rolling restart)
waits with backoff and says what it waits for; a dependency that answers but refuses us (a
wrong password, CA or certificate) will not change its mind, so that is a start-up error naming
the setting to fix. While it waits, `postbacks_startup_waiting{dependency}` is 1, so an alert
(PostbacksWaitingAtStart) sees a service that answers /metrics but has not started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prometheus_client import Gauge

log = logging.getLogger(__name__)

# One series per dependency ("kafka", "clickhouse"): the first word of what is waited for.
WAITING = Gauge(
    "postbacks_startup_waiting",
    "1 while the service waits at start for a dependency that does not answer yet",
    ["dependency"],
)

T = TypeVar("T")

FIRST_DELAY_S = 0.5
LONGEST_DELAY_S = 30.0


class Misconfigured(Exception):
    """A dependency answered and refused us; retrying cannot help. Names the setting to fix."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{problem}; check {setting}")
        self.setting = setting
        self.problem = problem


async def wait_for(
    what: str,
    probe: Callable[[], Awaitable[T]],
    *,
    setting: str,
    refusal: Callable[[Exception], str | Misconfigured | None],
    first_delay_s: float = FIRST_DELAY_S,
    longest_delay_s: float = LONGEST_DELAY_S,
) -> T:
    """`probe()`'s result once it succeeds. Between failures it sleeps, doubling up to
    `longest_delay_s`, and logs what it waits for. `refusal(error)` says whether an error is a
    refusal (returns the problem in words, or a Misconfigured naming another setting than
    `setting`) rather than something not up yet (returns None); a refusal raises at once."""
    waiting = WAITING.labels(dependency=what.split(maxsplit=1)[0].lower())
    delay = first_delay_s
    try:
        while True:
            try:
                return await probe()
            except Exception as error:  # each is classified just below
                problem = refusal(error)
                if isinstance(problem, Misconfigured):
                    raise problem from error
                if problem is not None:
                    raise Misconfigured(setting, problem) from error
                waiting.set(1)
                log.warning(
                    "waiting for %s (%s): %s; trying again in %.1f s",
                    what, setting, str(error) or type(error).__name__, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest_delay_s)
    finally:
        waiting.set(0)  # answered, refused, or the service stops while waiting
