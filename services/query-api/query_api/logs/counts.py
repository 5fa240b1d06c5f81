"""How many attempts a log query selects: the number paging through `GET /api/v1/logs` shows.

A plain count() of the matching rows. The log-writer stores each attempt once, so rows are
attempts (deploy/clickhouse/README.md); the one exception, a copy written by two log-writers
racing through a consumer-group rebalance, lasts until ReplacingMergeTree merges it away, and
may count twice meanwhile while the list shows it once. Counting distinct attempt_ids instead
would close that window at a high price: it reads the 16-byte id of every matching row and
hashes it, and it cannot be answered from the by_publisher projection (12 ms against 290 ms for
one publisher over 10 million rows).
"""

from __future__ import annotations

from dataclasses import replace

from query_api.logs.filters import LogQuery, where_clause
from query_api.logs.reader import TABLE, LogStore


async def count_logs(store: LogStore, query: LogQuery) -> int:
    """The number of attempts matching `query`'s filters and time bounds.

    `limit` and any cursor in `query` are ignored: the count covers every page.
    """
    where, params = where_clause(replace(query, cursor=None))
    sql = f"SELECT count() AS attempts FROM {store.table(TABLE)} {where}"
    rows = await store.select(sql, params)
    return int(rows[0]["attempts"])
