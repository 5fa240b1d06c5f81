"""The limits every log query runs under, so that no request can hang the API or the store.

- Time window: a log query without `from` covers `default_window` (24 h) before its `to`, or
  before now; from..to (to: now when absent) may cover at most `max_span` (31 days), wider is a
  400 saying which bound to move (within_window, applied to every parsed log query).
- ClickHouse limits on each query (max_execution_time, max_rows_to_read, both set to throw):
  ClickHouse stops a query that reads too much or runs too long, and the API answers 400 (too
  many rows: the same query will fail again) or 503 (too slow: load-dependent) telling the client
  to narrow the time range or add filters; never a hang or a bare 500.
- Concurrency: at most `max_concurrent_queries` queries at once per process; a query waits up to
  `queue_wait_seconds` for a slot, then the request gets 503 with Retry-After.

The last two apply to every query the log and stats routes send: they read through a
GuardedStore, which build_app hands the log and stats routes (dependencies.LogReads).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from dataclasses import dataclass, replace
from datetime import timedelta

from postbacks.store import Params, Row, Store, StoreQueryError
from postbacks.store.protocol import QuerySettings
from query_api.errors import ApiError, BadRequest, Busy, QueryTooLarge, QueryTooSlow
from query_api.logs.cursor import MIN_MILLIS
from query_api.logs.filters import LogQuery

log = logging.getLogger(__name__)

_NARROW = "narrow the time range (a later 'from' or an earlier 'to') or add filters"
# ClickHouse error codes of a query stopped by its limits; the code leads the error text
# ("Code: 158. DB::Exception: ...") on chDB and on a server alike.
_TOO_MANY_ROWS = {158: "TOO_MANY_ROWS", 307: "TOO_MANY_BYTES"}
_TOO_SLOW = {159: "TIMEOUT_EXCEEDED", 160: "TOO_SLOW", 241: "MEMORY_LIMIT_EXCEEDED"}
_CODE = re.compile(r"\bCode: (\d+)\b")


@dataclass(frozen=True)
class QueryLimits:
    """The guardrails' settings (POSTBACKS_API_*, see settings.py); the defaults are theirs."""

    default_window: timedelta = timedelta(hours=24)
    max_span: timedelta = timedelta(days=31)
    max_query_seconds: int = 10
    max_rows_to_read: int = 100_000_000
    max_concurrent_queries: int = 8
    queue_wait_seconds: float = 1.0

    def clickhouse_settings(self) -> dict[str, str | int | float]:
        return {
            "max_execution_time": self.max_query_seconds,
            "timeout_overflow_mode": "throw",
            "max_rows_to_read": self.max_rows_to_read,
            "read_overflow_mode": "throw",
        }


def within_window(query: LogQuery, limits: QueryLimits) -> LogQuery:
    """`query` with its time bounds checked: `from` defaults to (`to` or now) - default_window.

    BadRequest when from..to (to: now when absent) is wider than max_span. Every log route
    (page, count, export) reads its query through this, so none can forget it.
    """
    to_ms = query.to_ms if query.to_ms is not None else _now_ms()
    if query.from_ms is None:
        window_ms = limits.default_window // timedelta(milliseconds=1)
        return replace(query, from_ms=max(to_ms - window_ms, MIN_MILLIS))
    max_ms = limits.max_span // timedelta(milliseconds=1)
    if to_ms - query.from_ms > max_ms:
        days = (to_ms - query.from_ms) / 86_400_000
        until = "'to'" if query.to_ms is not None else "now"
        raise BadRequest(
            f"'from' to {until} covers {days:.1f} days, and one query may cover at most "
            f"{limits.max_span / timedelta(days=1):g} days; give a later 'from' or an earlier "
            "'to', or ask for the range in several parts"
        )
    return query


class QuerySlots:
    """At most `size` queries at once; a query waits up to `wait` seconds for a slot, then Busy."""

    def __init__(self, size: int, wait: float) -> None:
        self._size = size
        self._wait = wait
        self._free = asyncio.Semaphore(size)

    async def acquire(self) -> None:
        try:
            async with asyncio.timeout(self._wait):
                await self._free.acquire()
        except TimeoutError:
            raise Busy(
                f"the server is already running {self._size} log queries, as many as it runs "
                "at once; retry after the Retry-After seconds, and narrow the time range or add "
                "filters so that each query finishes sooner",
                headers={"Retry-After": str(max(1, math.ceil(self._wait)))},
            ) from None

    def release(self) -> None:
        self._free.release()


class GuardedStore:
    """The store as the log and stats routes read it: each query in a slot, under the limits."""

    def __init__(self, store: Store, limits: QueryLimits, slots: QuerySlots | None = None) -> None:
        self._store = store
        self._limits = limits
        self._settings: QuerySettings = limits.clickhouse_settings()
        self.slots = slots or QuerySlots(limits.max_concurrent_queries, limits.queue_wait_seconds)

    def for_lookups(self) -> GuardedStore:
        """The same store, slots and time limit, without the row limit: for finding one attempt
        by id, which reads the attempt_id column across the whole table but no more (its bloom
        filter skips most granules), and which no narrower time range could help."""
        lookups = GuardedStore(self._store, self._limits, self.slots)
        lookups._settings = {
            k: v
            for k, v in self._settings.items()
            if k not in ("max_rows_to_read", "read_overflow_mode")
        }
        return lookups

    def table(self, name: str) -> str:
        return self._store.table(name)

    async def select(self, sql: str, params: Params | None = None) -> list[Row]:
        await self.slots.acquire()
        # The slot is released when the store is done, not when this request is: a cancelled
        # request leaves its query running in a worker thread until ClickHouse finishes or
        # stops it, and that query still counts against the cap.
        work = asyncio.create_task(self._store.select(sql, params, self._settings))
        work.add_done_callback(self._finished)
        try:
            return await asyncio.shield(work)
        except StoreQueryError as exc:
            error = self._limit_error(exc)
            if error is None:
                raise
            raise error from exc

    def _finished(self, work: asyncio.Task[list[Row]]) -> None:
        self.slots.release()
        if not work.cancelled():
            work.exception()  # retrieved, so an abandoned query's error is not logged as lost

    def _limit_error(self, exc: StoreQueryError) -> ApiError | None:
        """The API error for a query ClickHouse stopped at one of its limits, else None."""
        match = _CODE.search(str(exc))
        code = int(match.group(1)) if match else 0
        error: ApiError
        if code in _TOO_MANY_ROWS:
            error = QueryTooLarge(
                f"this query would read more than {self._limits.max_rows_to_read:,} rows of "
                f"the log, the most one query may read; {_NARROW}"
            )
        elif code in _TOO_SLOW:
            error = QueryTooSlow(
                f"this query was stopped: it needed more than {self._limits.max_query_seconds} s "
                f"(or more memory than allowed); {_NARROW}, or retry when the server is less busy"
            )
        else:
            return None
        name = _TOO_MANY_ROWS.get(code) or _TOO_SLOW[code]
        log.warning("a log query was stopped at its limits (%s): answered %d", name, error.status)
        return error


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
