"""How many attempts a log query selects: the number paging through `GET /api/v1/logs` shows.

The table is a ReplacingMergeTree, so until a background merge an attempt written twice (a
re-delivery after a crash between insert and offset commit) is two rows. `read_logs` shows it
once (`LIMIT 1 BY attempt_id`); the count does the same by counting distinct attempt_ids, so
"N attempts" above a list always equals the rows a person can page through.
"""

from __future__ import annotations

from dataclasses import replace

from query_api.log_filters import LogQuery, where_clause
from query_api.log_reader import TABLE, LogStore


async def count_logs(store: LogStore, query: LogQuery) -> int:
    """The number of distinct attempts matching `query`'s filters and time bounds.

    `limit` and any cursor in `query` are ignored: the count covers every page.
    """
    # uniqExact, not uniq: an approximate count would disagree with the pages it summarises.
    # Its memory grows with the matching attempts (a hash set of UUIDs), which the time window
    # bounds; FINAL would give the same answer at the cost of merging parts while reading.
    where, params = where_clause(replace(query, cursor=None))
    sql = f"SELECT uniqExact(attempt_id) AS attempts FROM {store.table(TABLE)} {where}"
    rows = await store.select(sql, params)
    return int(rows[0]["attempts"])
