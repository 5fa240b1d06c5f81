"""Attempts per time bucket and status for a log query: where failures started (the Logs page).

The bucket size follows the range: the smallest of BUCKET_SIZES that gives at most MAX_BUCKETS
buckets from `from` to `to`, but whole minutes whenever they give at least MIN_MINUTE_BUCKETS
(so "the last hour" is 60 minutes from the rollup, not 120 half-minutes from the log); a range
wider than MAX_BUCKETS days gets buckets of several days. Buckets are aligned to the Unix epoch
in UTC, so a bucket's edges do not depend on the range asked for.

Two sources answer the same question:

- the per-minute rollup (`postback_attempts_by_minute`), when every filter is on a column it
  keeps (failure_stats.ROLLUP_COLUMNS, where a filter selects exactly the rollup rows of the
  attempts it selects in the log) and the bucket is whole minutes. The rollup cannot split a
  minute, so `from` is moved back and `to` forward to the minute edges around them; the answer
  gives the edges used. Its rows are summed, as a SummingMergeTree's must be;
- otherwise the log itself (`postback_attempts`), counted per bucket between `from` and `to`
  exactly, under the guardrails like every log query (the route's GuardedStore).

The rollup is kept longer than the log (400 days against 90 by default), so for older times it
counts attempts the log no longer lists.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Literal

from query_api.failure_stats import ROLLUP_COLUMNS, rollup_as_log
from query_api.logs.filters import LogQuery, where_clause
from query_api.logs.reader import TABLE, LogStore

Source = Literal["rollup", "log"]

_MINUTE = 60
_DAY = 86_400
# Round sizes, in seconds; those under a minute are counted on the log.
BUCKET_SIZES = (1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, _DAY)
# About one bar per 9 pixels across a laptop's page.
MAX_BUCKETS = 150
MIN_MINUTE_BUCKETS = 20


@dataclass(frozen=True)
class Bar:
    """The attempts of one status in one bucket, which starts at `bucket_ms`."""

    bucket_ms: int
    status: str
    attempts: int


@dataclass(frozen=True)
class Histogram:
    """The bars, oldest bucket first, and what they count: attempts from `from_ms` (inclusive)
    to `to_ms` (exclusive), the first and last bucket cut at these edges."""

    bucket_seconds: int
    source: Source
    from_ms: int
    to_ms: int
    bars: list[Bar]


def bucket_seconds(from_ms: int, to_ms: int) -> int:
    """The bucket size for from..to: see the module's docstring."""
    fitting = next((s for s in BUCKET_SIZES if _buckets(from_ms, to_ms, s) <= MAX_BUCKETS), None)
    if fitting is None:
        # Wider than MAX_BUCKETS days (a server allowing long spans): as many days per bucket as
        # keep the count under the bound, one more bucket allowed for the alignment.
        return _DAY * -(-(to_ms - from_ms) // (_DAY * 1000 * (MAX_BUCKETS - 1)))
    if fitting < _MINUTE and _buckets(from_ms, to_ms, _MINUTE) >= MIN_MINUTE_BUCKETS:
        return _MINUTE
    return fitting


def _buckets(from_ms: int, to_ms: int, seconds: int) -> int:
    """How many epoch-aligned buckets of `seconds` from..to touches."""
    size = seconds * 1000
    return -(-to_ms // size) - from_ms // size


async def log_histogram(store: LogStore, query: LogQuery) -> Histogram:
    """The attempts `query` selects per bucket and status. `query` has been through
    within_window (so it has a `from`); without a `to` it runs to now. Its cursor is ignored."""
    if query.from_ms is None:
        raise ValueError("a histogram's query needs 'from': read it through within_window")
    from_ms = query.from_ms
    # No `to`: now; and a `from` in the future is an empty range, as the log routes answer it.
    to_ms = max(query.to_ms if query.to_ms is not None else time.time_ns() // 1_000_000, from_ms)
    seconds = bucket_seconds(from_ms, to_ms)
    rollup = seconds % _MINUTE == 0 and all(f.column in ROLLUP_COLUMNS for f in query.filters)
    if rollup:
        from_ms, to_ms = _floor(from_ms, _MINUTE * 1000), -_floor(-to_ms, _MINUTE * 1000)
    where, params = where_clause(replace(query, from_ms=from_ms, to_ms=to_ms, cursor=None))
    size_ms = seconds * 1000
    # Epoch-aligned in integer milliseconds: toStartOfInterval answers a DateTime, which cannot
    # hold the log's times before 1970, and positiveModulo floors those too.
    bucket = (
        f"toUnixTimestamp64Milli(attempted_at) "
        f"- positiveModulo(toUnixTimestamp64Milli(attempted_at), {size_ms})"
    )
    source, counted = (
        (rollup_as_log(store), "sum(attempts)") if rollup else (store.table(TABLE), "count()")
    )
    # A new alias, not attempted_at, which would shadow the column in WHERE (reader.py). At most
    # MAX_BUCKETS buckets of two statuses (the log-writer stores no other): a short answer.
    sql = f"""
        SELECT {bucket} AS bucket_ms, status, {counted} AS attempts
        FROM {source}
        {where}
        GROUP BY bucket_ms, status
        ORDER BY bucket_ms, status
    """
    rows = await store.select(sql, params)
    bars = [Bar(int(r["bucket_ms"]), str(r["status"]), int(r["attempts"])) for r in rows]
    return Histogram(seconds, "rollup" if rollup else "log", from_ms, to_ms, bars)


def _floor(millis: int, size: int) -> int:
    return millis - millis % size  # Python's % is never negative for a positive size
