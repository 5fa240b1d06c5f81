"""Failure rates over time, read from the per-minute rollup (`postback_attempts_by_minute`).

The rollup is a SummingMergeTree, so rows of one key may still be unmerged parts: every query
sums. Times have minute resolution: `from` and `to` select whole minutes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

from postbacks.store import Params, Row
from query_api.logs.filters import InvalidLogQuery, LogQuery, parse_log_query, where_clause

ROLLUP = "postback_attempts_by_minute"
GroupBy = Literal["publisher", "offer", "postback", "response_code"]
Bucket = Literal["minute", "hour", "day"]

GROUP_COLUMNS: dict[str, str] = {
    "publisher": "publisher_id",
    "offer": "offer_id",
    "postback": "postback_id",
    "response_code": "response_code",
}
BUCKET_SECONDS = {"minute": 60, "hour": 3600, "day": 86_400}
# Columns of the log that the rollup keeps, so they can filter stats too.
ROLLUP_FILTERS = ("status", "postback_name", "publisher_id", "offer_id", "response_code")
# Every filterable column of the log that rollup_as_log() holds: a log query filtering on these
# alone (and by whole minutes) is answered by the rollup exactly (the Logs page's histogram).
ROLLUP_COLUMNS = (*ROLLUP_FILTERS, "postback_type", "postback_id")
MAX_BUCKETS = 1500
MAX_ROWS = 10_000
DEFAULT_WINDOW_S = 24 * 3600


class StatsStore(Protocol):
    def table(self, name: str) -> str: ...
    async def select(self, sql: str, params: Params | None = None) -> list[Row]: ...


@dataclass(frozen=True)
class StatsQuery:
    group_by: GroupBy
    bucket: Bucket
    filters: LogQuery


def parse_stats_query(pairs: Iterable[tuple[str, str]]) -> StatsQuery:
    """`group_by` and `bucket`, then the log filters that the rollup can answer."""
    own: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for key, value in pairs:
        if key in ("group_by", "bucket"):
            if key in own:
                raise InvalidLogQuery(f"'{key}' is given more than once; give it at most once")
            own[key] = value
        elif key in ("limit", "cursor"):
            raise InvalidLogQuery(f"'{key}' does not apply to stats; leave it out")
        else:
            rest.append((key, value))
    group_by = own.get("group_by", "publisher")
    if group_by not in GROUP_COLUMNS:
        raise InvalidLogQuery(
            f"'group_by' must be one of {', '.join(GROUP_COLUMNS)}, got {group_by!r}"
        )
    bucket = own.get("bucket", "hour")
    if bucket not in BUCKET_SECONDS:
        raise InvalidLogQuery(f"'bucket' must be one of minute, hour, day, got {bucket!r}")
    filters = parse_log_query(rest)
    for f in filters.filters:
        if f.column not in ROLLUP_FILTERS:
            raise InvalidLogQuery(
                f"'{f.column}' cannot filter stats (the rollup does not keep it); stats filter "
                f"by {', '.join(ROLLUP_FILTERS)}, and by from/to"
            )
    _check_size(filters, bucket)
    return StatsQuery(cast(GroupBy, group_by), cast(Bucket, bucket), filters)


def _check_size(filters: LogQuery, bucket: str) -> None:
    now_ms = int(time.time() * 1000)
    to_ms = filters.to_ms if filters.to_ms is not None else now_ms
    from_ms = filters.from_ms if filters.from_ms is not None else to_ms - DEFAULT_WINDOW_S * 1000
    buckets = (to_ms - from_ms) / 1000 / BUCKET_SECONDS[bucket]
    if buckets > MAX_BUCKETS:
        raise InvalidLogQuery(
            f"{buckets:.0f} {bucket} buckets is more than {MAX_BUCKETS}; use a coarser 'bucket' "
            "or a shorter from/to range"
        )


def rollup_as_log(store: StatsStore) -> str:
    """The rollup as a subquery with the log's column names, for `FROM`.

    The filters are written against the log's columns (where_clause); the subquery gives the
    rollup's minute the log's name, so the same WHERE text applies: `from` and `to` then select
    whole minutes. Its counters (attempts, latency_ms_sum) are to be sum()med.
    """
    return f"""(
            SELECT toDateTime64(minute, 3, 'UTC') AS attempted_at, publisher_id, offer_id,
                   postback_id, postback_name, postback_type, status, response_code, attempts,
                   latency_ms_sum
            FROM {store.table(ROLLUP)}
        )"""


async def failure_rates(store: StatsStore, query: StatsQuery) -> list[dict[str, Any]]:
    """Attempts, failures, failure rate and mean latency per bucket and group, oldest first."""
    where, params = where_clause(query.filters)
    seconds = BUCKET_SECONDS[query.bucket]
    group = GROUP_COLUMNS[query.group_by]
    sql = f"""
        SELECT
            toStartOfInterval(attempted_at, INTERVAL {seconds} SECOND) AS bucket,
            {group} AS group_key,
            any(postback_name) AS name,
            sum(attempts) AS total_attempts,
            sumIf(attempts, status = 'Failed') AS failed_attempts,
            sum(latency_ms_sum) AS total_latency_ms
        FROM {rollup_as_log(store)}
        {where}
        GROUP BY bucket, group_key
        ORDER BY bucket, group_key
        LIMIT {MAX_ROWS + 1}
    """
    rows = await store.select(sql, params)
    if len(rows) > MAX_ROWS:
        raise InvalidLogQuery(
            f"more than {MAX_ROWS} points; use a coarser 'bucket', a shorter range, or filters"
        )
    return [_point(row, query.group_by) for row in rows]


def _point(row: Row, group_by: str) -> dict[str, Any]:
    attempts = int(row["total_attempts"])
    failures = int(row["failed_attempts"])
    point: dict[str, Any] = {
        "bucket": row["bucket"],
        GROUP_COLUMNS[group_by]: row["group_key"],
        "attempts": attempts,
        "failures": failures,
        "failure_rate": round(failures / attempts, 6) if attempts else 0.0,
        "avg_latency_ms": round(int(row["total_latency_ms"]) / attempts, 1) if attempts else 0.0,
    }
    if group_by == "postback":
        point["postback_name"] = row["name"]
    return point
