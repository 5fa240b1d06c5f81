"""Repair the per-minute rollup after a crash in the middle of an INSERT.

ClickHouse writes the attempt log's part first and the rollup's part (through the materialized
view) after it, with nothing atomic across the two tables. A kill -9 between them leaves
attempts in the log whose rollup rows never landed; the replay check then (rightly) does not
insert those attempts again, so the view never sees them. Seen in tests/crash: 939 of 20,000
attempts missing from the rollup after three kills.

So when a batch turns out to be a replay (some of its attempts are already stored), the minutes
those attempts fall in are compared, key by key, between the log and the rollup, and what the
rollup lacks is inserted into it (a SummingMergeTree adds it up). After a crash where both parts
landed the difference is zero and nothing is inserted. The comparison is one query; it runs only
on replays, which happen only after a crash or a rebalance.

Caveat: another member inserting into the same minutes at that very moment (its log part
committed, its rollup part not yet) would be counted twice; with one log-writer, or partitions
that do not share minutes with a replay in flight, it cannot happen.
"""

from __future__ import annotations

from log_writer.attempt_store import AttemptStore

KEYS = (
    "minute, publisher_id, offer_id, postback_id, postback_name, postback_type, status, "
    "response_class, response_code"
)
# The same expressions as deploy/clickhouse/003_postback_attempts_by_minute_mv.sql.
_FROM_LOG = """
    SELECT
        toStartOfMinute(attempted_at) AS minute, publisher_id, offer_id, postback_id,
        postback_name, postback_type, status,
        multiIf(response_code = 0, 'none', response_code < 200, '1xx', response_code < 300, '2xx',
                response_code < 400, '3xx', response_code < 500, '4xx', '5xx') AS response_class,
        response_code,
        count() AS attempts, countIf(status = 'Failed') AS failures,
        sum(latency_ms) AS latency_ms_sum, max(latency_ms) AS latency_ms_max
    FROM {log}
    WHERE attempted_at >= fromUnixTimestamp64Milli({{lo:Int64}}, 'UTC')
      AND attempted_at < fromUnixTimestamp64Milli({{hi:Int64}}, 'UTC')
    GROUP BY {keys}
"""
_FROM_ROLLUP = """
    SELECT {keys}, sum(attempts) AS attempts, sum(failures) AS failures,
           sum(latency_ms_sum) AS latency_ms_sum
    FROM {rollup}
    WHERE minute >= toDateTime(intDiv({{lo:Int64}}, 1000), 'UTC')
      AND minute < toDateTime(intDiv({{hi:Int64}}, 1000), 'UTC')
    GROUP BY {keys}
"""


def _minute_floor(ms: int) -> int:
    return ms - ms % 60_000


async def repair_rollup(store: AttemptStore, first_ms: int, last_ms: int) -> int:
    """Add to the rollup what the log holds and it lacks, for the minutes of first..last_ms.

    Returns the number of attempts added to the rollup.
    """
    lo, hi = _minute_floor(first_ms), _minute_floor(last_ms) + 60_000
    log = store.table("postback_attempts")
    rollup = store.table("postback_attempts_by_minute")
    missing = f"""
        SELECT
            {", ".join(f"from_log.{k.strip()}" for k in KEYS.split(","))},
            from_log.attempts - rolled.attempts AS attempts,
            from_log.failures - rolled.failures AS failures,
            from_log.latency_ms_sum - rolled.latency_ms_sum AS latency_ms_sum,
            from_log.latency_ms_max AS latency_ms_max
        FROM ({_FROM_LOG.format(log=log, keys=KEYS)}) AS from_log
        LEFT JOIN ({_FROM_ROLLUP.format(rollup=rollup, keys=KEYS)}) AS rolled USING ({KEYS})
        WHERE from_log.attempts > rolled.attempts
    """
    params = {"lo": lo, "hi": hi}
    [count] = await store.select(f"SELECT sum(attempts) AS n FROM ({missing})", params)
    added = int(count["n"] or 0)
    if added:
        await store.execute(f"INSERT INTO {rollup} ({KEYS}, attempts, failures, latency_ms_sum, "
                            f"latency_ms_max) {missing}", params)  # fmt: skip
    return added
