"""Who may send now: a bound on requests in flight overall and per publisher host.

A postback waits in its host's line when the host already has `per_host` requests in flight,
or when `max_in_flight` requests are running overall. A free slot goes to the next host in
turn (round robin), so one busy host cannot take every slot that frees up.

A host's line is bounded too (`waiting_per_host`). When it is full, what happens depends on
how fast the host is draining it:
- a healthy host (its line would drain within `max_line_wait_s` at its recent pace) makes the
  caller wait for room: that is backpressure, the consumer stops reading for a moment;
- a host that hangs or answers very slowly (its line would take longer, judged on its recent
  latency or on how long it has gone without finishing anything) gets the postback failed at
  once, unsent (HostOverloaded, a Failed attempt an operator can re-fire).
So a dead publisher holds only its own slots and its own bounded line, and never stops
consumption for everyone; a busy but healthy one is never refused, only waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

J = TypeVar("J")
_SMOOTHING = 0.2  # weight of the newest latency in the host's running average


class Admission(Enum):
    ACCEPTED = "accepted"  # started or queued
    FULL = "full"  # the host's line is full but moving: wait for room, then submit again
    OVERLOADED = "overloaded"  # the host's line is full and stuck: fail the postback now


@dataclass
class _Host(Generic[J]):
    running: int = 0
    waiting: deque[J] = field(default_factory=deque)
    queued_for_slot: bool = False  # in the scheduler's round-robin line
    latency_s: float = 0.0  # running average of finished requests
    last_progress: float = field(default_factory=time.monotonic)
    room: asyncio.Event = field(default_factory=asyncio.Event)

    def pace_s(self, now: float) -> float:
        """Seconds a request of this host takes, as far as we can tell right now: a host
        that has finished nothing for a while is at least that slow."""
        stalled = now - self.last_progress if self.running else 0.0
        return max(self.latency_s, stalled)


class HostScheduler(Generic[J]):
    def __init__(
        self,
        run: Callable[[J], Awaitable[None]],
        *,
        max_in_flight: int,
        per_host: int,
        waiting_per_host: int,
        max_line_wait_s: float = 5.0,
        hosts_kept: int = 4096,
    ) -> None:
        self._run = run
        self._loop: asyncio.AbstractEventLoop | None = None
        self._max_in_flight = max_in_flight
        self._per_host = per_host
        self._waiting_per_host = waiting_per_host
        self._max_line_wait_s = max_line_wait_s
        # Idle hosts are kept (a host between two postbacks is idle most of the time: dropping
        # and rebuilding its state each time was a visible cost), until `hosts_kept` are known.
        self._hosts: dict[str, _Host[J]] = {}
        self._hosts_kept = hosts_kept
        self._turns: deque[str] = deque()  # hosts with a waiting job and a free host slot
        self._tasks: set[asyncio.Task[None]] = set()
        self.in_flight = 0
        self.waiting = 0

    def submit(self, host: str, job: J) -> Admission:
        state = self._hosts.get(host)
        if state is None:
            if len(self._hosts) >= self._hosts_kept:
                self._drop_idle_hosts()
            state = self._hosts[host] = _Host()
        if state.running < self._per_host and self.in_flight < self._max_in_flight:
            self._start(host, state, job)
            return Admission.ACCEPTED
        if len(state.waiting) >= self._waiting_per_host:
            drain_s = (len(state.waiting) + 1) * state.pace_s(time.monotonic()) / self._per_host
            return Admission.OVERLOADED if drain_s > self._max_line_wait_s else Admission.FULL
        state.waiting.append(job)
        self.waiting += 1
        self._offer_turn(host, state)
        return Admission.ACCEPTED

    async def room(self, host: str, check_every_s: float = 0.1) -> None:
        """Until the host's line has room, or its pace should be judged again."""
        state = self._hosts.get(host)
        if state is None or len(state.waiting) < self._waiting_per_host:
            return
        state.room.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.room.wait(), check_every_s)

    @property
    def hosts_known(self) -> int:
        return len(self._hosts)

    def load(self, host: str) -> tuple[int, int]:
        state = self._hosts.get(host)
        return (state.running, len(state.waiting)) if state else (0, 0)

    def _offer_turn(self, host: str, state: _Host[J]) -> None:
        if state.waiting and state.running < self._per_host and not state.queued_for_slot:
            state.queued_for_slot = True
            self._turns.append(host)

    def _start(self, host: str, state: _Host[J], job: J) -> None:
        self._claim(state)
        if self._loop is None:  # held: asyncio.create_task looks it up with a getpid() syscall
            self._loop = asyncio.get_running_loop()
        task = self._loop.create_task(self._guarded(host, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _claim(self, state: _Host[J]) -> None:
        if not state.running:
            state.last_progress = time.monotonic()
        state.running += 1
        self.in_flight += 1

    async def _guarded(self, host: str, job: J) -> None:
        """Runs `job`, then, while a job waits for the slot it freed, that job too: with a
        backlog, a task per postback (its creation, first step and done callback) was a
        visible share of the loop's time."""
        while True:
            started = time.monotonic()
            try:
                await self._run(job)
            except Exception:  # the runner records failures; this is a bug, not a publisher
                log.exception("postback runner failed")
            except BaseException:  # cancelled (shutdown): free the slot, take nothing more
                self._release(host, started, keep_running=False)
                raise
            following = self._release(host, started, keep_running=True)
            if following is None:
                return
            host, job = following

    def _release(self, host: str, started: float, *, keep_running: bool) -> tuple[str, J] | None:
        """Frees the finished job's slot and starts waiting jobs on the free slots; with
        `keep_running`, the first of them is returned for the calling task to run instead."""
        state = self._hosts[host]
        state.running -= 1
        self.in_flight -= 1
        now = time.monotonic()
        state.latency_s += _SMOOTHING * (now - started - state.latency_s)
        state.last_progress = now
        self._offer_turn(host, state)
        following = self._fill_slots(keep_running)
        state.room.set()
        return following

    def _drop_idle_hosts(self) -> None:
        # A host with work running or waiting stays: its slots, line and turn refer to it.
        self._hosts = {h: s for h, s in self._hosts.items() if s.running or s.waiting}

    def _fill_slots(self, keep_first: bool = False) -> tuple[str, J] | None:
        kept: tuple[str, J] | None = None
        while self._turns and self.in_flight < self._max_in_flight:
            host = self._turns.popleft()
            state = self._hosts[host]
            state.queued_for_slot = False
            if not state.waiting or state.running >= self._per_host:
                continue
            self.waiting -= 1
            job = state.waiting.popleft()
            if keep_first and kept is None:
                self._claim(state)
                kept = (host, job)
            else:
                self._start(host, state, job)
            self._offer_turn(host, state)
        return kept

    async def wait_idle(self) -> None:
        """Until nothing runs or waits (used by the graceful shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel_all(self) -> None:
        for state in self._hosts.values():
            self.waiting -= len(state.waiting)
            state.waiting.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
