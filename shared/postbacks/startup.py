"""Start-up against Kafka and ClickHouse: wait for what is not up yet, refuse what is misconfigured.

A service started before its broker or database answers (a compose file, a rolling restart)
waits with backoff and says what it waits for; a dependency that answers but refuses us (a
wrong password, CA or certificate) will not change its mind, so that is a start-up error naming
the setting to fix.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)

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
    delay = first_delay_s
    while True:
        try:
            return await probe()
        except Exception as error:  # each is classified just below
            problem = refusal(error)
            if isinstance(problem, Misconfigured):
                raise problem from error
            if problem is not None:
                raise Misconfigured(setting, problem) from error
            log.warning(
                "waiting for %s (%s): %s; trying again in %.1f s",
                what, setting, str(error) or type(error).__name__, delay,
            )  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest_delay_s)
