"""The live view's one poller per process: one read of the log per interval, for every client.

Its cost does not grow with the number of clients: while any client is connected, one task
reads the log once per `interval_seconds` with ONE query for every distinct filter set being
watched (statements.poll), and hands each client its rows. Measured (bench/README.md,
`live-stream`): that read took 67 to 87 ms with 100 filter sets against 14 to 16 ms with one,
where a read per client would take some 1.5 s of every second. The task starts with the first
client and stops with the last one (or LiveLog.close, at shutdown).

What is new. The log has no ingestion-time column (its key is (attempted_at, attempt_id)) and
rows reach it seconds after their attempted_at, not in order. So each read selects the matching
rows of the last `lookback_seconds` and drops those this process has already seen: a set of
attempt ids, each kept while its attempted_at is inside the window (at most rows_per_poll ids
per read, so at most rows_per_poll * lookback / interval). A row stored later than the
lookback after its attempted_at is not shown live; it is in the log. A client's first read
gives it only rows newer than the moment it connected (or its Last-Event-ID): rows the process
had not read yet may be older.

Bounds: clients per process (503 too_many_streams), the size of the one read (a new filter set
that would make it too large: 503; one too large on its own: 400), rows per read (past it a
`gap` event), rows waiting for one slow client (watcher.py). A failing read is logged, counted
and told to the clients once (a `warning` event); the next interval reads again, and the rows
stored meanwhile come then, unless the reads failed for longer than the lookback (a `gap`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from dataclasses import dataclass, field

import orjson
from prometheus_client import Counter, Gauge

from postbacks.store import Row, StoreError
from query_api.errors import ApiError, BadRequest, Unavailable
from query_api.live import statements, wire
from query_api.live.limits import StreamLimits
from query_api.live.positions import before, order_key, position_of
from query_api.live.statements import Condition
from query_api.live.watcher import Delivery, Watcher
from query_api.logs.cursor import MIN_MILLIS, CursorPosition
from query_api.logs.filters import ColumnFilter
from query_api.logs.reader import TABLE, LogStore, list_item

log = logging.getLogger(__name__)

CLIENTS = Gauge(
    "postbacks_query_api_live_clients", "Clients of the live view (/api/v1/logs/stream) now"
)
POLL_FAILURES = Counter(
    "postbacks_query_api_live_poll_failures_total",
    "Reads of the log for the live view that failed (the next interval reads again)",
)
# A slot frees when a client leaves, which nothing foretells: a few seconds.
_RETRY_AFTER = {"Retry-After": "5"}


class TooManyStreams(Unavailable):
    code = "too_many_streams"


@dataclass
class _Group:
    """The clients watching one filter set, and its condition in the read."""

    condition: Condition
    watchers: set[Watcher] = field(default_factory=set)


class LiveLog:
    """The clients of the live view and the one task that reads the log for all of them."""

    def __init__(self, store: LogStore, limits: StreamLimits) -> None:
        self._store = store
        self.limits = limits
        self._groups: dict[tuple[ColumnFilter, ...], _Group] = {}
        self._clients = 0
        self._poll_size = 0  # the characters of the read: its conditions' sizes added up
        self._named = 0  # conditions named so far: each binds its values as w<n>_0, w<n>_1, ...
        self._poller: asyncio.Task[None] | None = None
        self._seen: dict[str, int] = {}  # attempt id -> attempted_at ms, within the lookback
        self._since_ms = MIN_MILLIS
        self._failing_since: float | None = None
        self._closed = False

    async def watch(
        self, filters: tuple[ColumnFilter, ...], resume: CursorPosition | None
    ) -> Watcher:
        """A new client of `filters`; with `resume` (its Last-Event-ID), the rows newer than it
        are waiting for it first. TooManyStreams or BadRequest when it cannot be served."""
        start = before(self._now_ms())
        if resume is None or order_key(resume) > order_key(start):
            return self._register(filters, start)
        watcher = self._register(filters, resume)
        try:
            await self._resume(watcher)
        except BaseException:
            self.leave(watcher)
            raise
        return watcher

    def leave(self, watcher: Watcher) -> None:
        """The client is gone (its response ended, however); a second call does nothing."""
        group = self._groups.get(watcher.filters)
        if group is None or watcher not in group.watchers:
            return
        group.watchers.discard(watcher)
        watcher.close()
        self._clients -= 1
        CLIENTS.dec()
        if not group.watchers:
            del self._groups[watcher.filters]
            self._poll_size -= group.condition.size
        if not self._groups and self._poller is not None:
            self._poller.cancel()
            self._poller = None
            self._seen.clear()
            self._since_ms = MIN_MILLIS
            self._failing_since = None

    async def close(self) -> None:
        """End every stream and the poller, and refuse new clients: at shutdown, since uvicorn
        waits for every open response before it stops, and a stream never ends by itself."""
        self._closed = True
        for group in self._groups.values():
            for watcher in group.watchers:
                watcher.close()
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    def _register(self, filters: tuple[ColumnFilter, ...], floor: CursorPosition) -> Watcher:
        if self._closed:
            raise Unavailable("the server is shutting down; reconnect in a moment")
        if self._clients >= self.limits.max_clients:
            raise TooManyStreams(
                f"this server already streams the live log to {self._clients} clients, as many "
                "as it serves at once (POSTBACKS_API_MAX_STREAM_CLIENTS); retry later, or read "
                "GET /api/v1/logs",
                headers=_RETRY_AFTER,
            )
        group = self._groups.get(filters)
        if group is None:
            group = _Group(statements.condition(filters, f"w{self._named}_"))
            self._check_size(group.condition)
            self._named += 1
            self._groups[filters] = group
            self._poll_size += group.condition.size
        watcher = Watcher(filters, floor, self.limits)
        group.watchers.add(watcher)
        self._clients += 1
        CLIENTS.inc()
        if self._poller is None:
            self._poller = asyncio.create_task(self._run(), name="live-log-poller")
        return watcher

    def _check_size(self, condition: Condition) -> None:
        most = self.limits.max_poll_text
        if condition.size > most:
            raise BadRequest(
                f"these filters are too large for the live view: their conditions and values "
                f"take {condition.size:,} characters, and its read of the log holds at most "
                f"{most:,}; give fewer or shorter values"
            )
        if self._poll_size + condition.size > most:
            raise TooManyStreams(
                "the live view already watches as many different filters as its one read of "
                "the log holds; retry later, or watch with the filters of a stream already open",
                headers=_RETRY_AFTER,
            )

    async def _resume(self, watcher: Watcher) -> None:
        now_ms = self._now_ms()
        after = watcher.floor
        window_ms = round(self.limits.resume_window_hours * 3_600_000)
        since_ms = max(after.attempted_at_ms, now_ms - window_ms)
        limit = self.limits.resume_rows
        where = self._groups[watcher.filters].condition
        sql, params = statements.resumed(self._store.table(TABLE), where, after, since_ms, limit)
        rows = await self._store.select(sql, params)
        deliveries: list[Delivery] = []
        for row in rows:
            # Copies of one attempt (ReplacingMergeTree, before a merge) share its key: adjacent.
            if not deliveries or deliveries[-1].attempt_id != row["attempt_id"]:
                deliveries.append(_delivery(row, position_of(row)))
        gap = None
        if len(rows) == limit or since_ms > after.attempted_at_ms:
            gap = wire.notice(
                "gap",
                reason="resume_limit",
                skipped=None,
                message=(
                    "more attempts were logged while this client was away than a reconnect is "
                    f"sent ({limit:,}, from at most {self.limits.resume_window_hours:g} hours "
                    "back); the newest are shown, the others are in the log"
                ),
            )
        watcher.resume(deliveries, gap)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started, now = loop.time(), time.time()
            try:
                await self._poll(now)
            except Exception as exc:  # never ends the poller: the next interval reads again
                self._failed(exc, now)
            else:
                self._recovered(now)
            elapsed = loop.time() - started
            await asyncio.sleep(max(0.0, self.limits.interval_seconds - elapsed))

    async def _poll(self, now: float) -> None:
        groups = list(self._groups.values())
        lookback_ms = round(self.limits.lookback_seconds * 1000)
        # Never earlier than the last read's: a clock set back must not bring back rows whose
        # ids have left the seen set.
        since_ms = max(self._since_ms, math.floor(now * 1000) - lookback_ms)
        table = self._store.table(TABLE)
        limit = self.limits.rows_per_poll
        sql, params = statements.poll(table, [g.condition for g in groups], since_ms, limit)
        rows = await self._store.select(sql, params)
        self._since_ms = since_ms
        self._seen = {aid: ms for aid, ms in self._seen.items() if ms >= since_ms}
        self._hand_out(rows, groups, since_ms)

    def _hand_out(self, rows: list[Row], groups: list[_Group], since_ms: int) -> None:
        # A full read whose oldest row is new may have left new rows unread behind it, for any
        # filter set (the newest rows of one busy set fill the read for all): every client it
        # was for is told. (A row stored late behind an oldest row seen before is not noticed:
        # docs/design.md §7.7.)
        full = len(rows) == self.limits.rows_per_poll and rows[-1]["attempt_id"] not in self._seen
        cut: list[bool] = [full] * len(groups)
        boundary = position_of(rows[-1]) if rows else None
        batches: dict[Watcher, list[Delivery]] = {}
        for row in rows:
            attempt_id = row["attempt_id"]
            if attempt_id in self._seen:
                continue
            position = position_of(row)
            self._seen[attempt_id] = position.attempted_at_ms
            delivery = None
            for group, matched in zip(groups, row["matched"], strict=True):
                for watcher in group.watchers if matched else ():
                    if watcher.takes(position):
                        delivery = delivery or _delivery(row, position)
                        batches.setdefault(watcher, []).append(delivery)
        for group, was_cut in zip(groups, cut, strict=True):
            for watcher in group.watchers:
                if watcher in batches:
                    watcher.add(batches[watcher], since_ms)
                if was_cut and boundary is not None and watcher.takes(boundary):
                    watcher.tell(self._cut_notice)
                watcher.polled = True

    @functools.cached_property
    def _cut_notice(self) -> bytes:
        return wire.notice(
            "gap",
            reason="poll_limit",
            skipped=None,
            message=(
                "more attempts were logged at once than the live view reads at a time "
                f"({self.limits.rows_per_poll:,}); the newest are shown, the others are in the log"
            ),
        )

    def _failed(self, exc: Exception, now: float) -> None:
        POLL_FAILURES.inc()
        if self._failing_since is not None:
            return  # told once per run of failures
        self._failing_since = now
        interval = self.limits.interval_seconds
        expected = isinstance(exc, ApiError | StoreError)
        log.warning(
            "the live view could not read the log (it reads again every %g s): %s",
            interval,
            exc,
            exc_info=not expected,
        )
        if isinstance(exc, ApiError):
            why = exc.message
        else:  # the store's own words (SQL, addresses) stay in the server's log
            why = "the log store did not answer" if expected else "an unexpected error"
        self._tell(
            wire.notice(
                "warning",
                message=(
                    f"the live view cannot read the log right now ({why}); it tries again "
                    f"every {interval:g} s"
                ),
            ),
        )

    def _recovered(self, now: float) -> None:
        if self._failing_since is None:
            return
        down, self._failing_since = now - self._failing_since, None
        log.info("the live view reads the log again, after %.1f s", down)
        if down > self.limits.lookback_seconds:
            self._tell(
                wire.notice(
                    "gap",
                    reason="unreadable",
                    skipped=None,
                    message=(
                        f"the log could not be read for {down:.0f} s, longer than the live view "
                        f"looks back ({self.limits.lookback_seconds:g} s): attempts logged "
                        "meanwhile may be missing here; they are in the log"
                    ),
                ),
            )

    def _tell(self, notice: bytes) -> None:
        for group in self._groups.values():
            for watcher in group.watchers:
                watcher.tell(notice)

    def _now_ms(self) -> int:
        # Down, as the log keeps attempted_at: an attempt made in this millisecond is not older.
        return math.floor(time.time() * 1000)


def _delivery(row: Row, position: CursorPosition) -> Delivery:
    return Delivery(position, row["attempt_id"], orjson.dumps(list_item(row)))
