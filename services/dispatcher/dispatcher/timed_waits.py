"""Postbacks waiting for their time: a configured delay before the first attempt, or the backoff
before a retry (retry_policy.py).

A waiting postback holds no HTTP slot: it is a timer on the event loop, handed to the
HostScheduler when it is due. It does hold its place in the engine's bound of admitted
postbacks (offsets.py counts it as pending), so waits cannot pile up without bound, and its
input's offset stays uncommitted until its last attempt is acknowledged.

A wait can end without firing, "abandoned": at shutdown, when it is due after the shutdown
bound, and when a rebalance takes its input's partition away. An abandoned postback's input
is never marked done, so its offset is not committed and the input is consumed again after the
restart (or by the partition's new owner), which fires the postback again from attempt 1.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Generic, TypeVar

W = TypeVar("W")


class TimedWaits(Generic[W]):
    def __init__(self, due: Callable[[str, W], None], abandoned: Callable[[W], None]) -> None:
        self._due = due
        self._abandoned = abandoned
        self._waits: dict[int, tuple[asyncio.TimerHandle, float, str, W]] = {}
        self._keys = itertools.count()
        self._deadline: float | None = None  # set by close(): later waits are abandoned
        self.late = 0  # waits abandoned because they were due after the close() deadline

    def add(self, delay_s: float, host: str, work: W) -> None:
        """Hand `work` (for `host`) to `due` after `delay_s` seconds."""
        loop = asyncio.get_running_loop()
        when = loop.time() + delay_s
        if self._deadline is not None and when > self._deadline:
            self.late += 1
            self._abandoned(work)
            return
        key = next(self._keys)
        handle = loop.call_at(when, self._fire, key)
        self._waits[key] = (handle, when, host, work)

    def _fire(self, key: int) -> None:
        _, _, host, work = self._waits.pop(key)
        self._due(host, work)

    def close(self, deadline: float) -> None:
        """From now on, abandon every wait due after `deadline` (event loop time)."""
        self._deadline = deadline
        self.late += self.abandon_where(lambda when, _: when > deadline)

    def abandon_where(self, condition: Callable[[float, W], bool]) -> int:
        """Abandon the waits for which condition(due time, work) holds."""
        chosen = [k for k, (_, when, _, work) in self._waits.items() if condition(when, work)]
        for key in chosen:
            handle, _, _, work = self._waits.pop(key)
            handle.cancel()
            self._abandoned(work)
        return len(chosen)

    def next_due(self) -> float | None:
        """Event loop time of the next wait to end (only at shutdown: it looks at them all)."""
        return min((when for _, when, _, _ in self._waits.values()), default=None)

    def __len__(self) -> int:
        return len(self._waits)
