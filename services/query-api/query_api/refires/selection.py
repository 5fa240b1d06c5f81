"""What a bulk re-fire fires: the (transaction_id, postback_id) pairs a log filter selects.

The attempts matching the filter (the same parameters as GET /api/v1/logs, test fires left
out) are reduced to distinct pairs, so a conversion that failed three times is fired once. Each
pair re-fires the input of its newest selected attempt (`refire_of`). A pair is skipped when the
log holds a Success for it at or after that newest selected attempt: the publisher has had it
since it last went wrong (a re-fire that succeeded, or a filter that selected the success
itself). A success before a later failure does not count: the later failure may carry another
input (a pending conversion later approved), and that one has not been delivered.

The success check looks outside the filter (status=Failed selects no successes) but never
before the window's `from`, which keeps it inside the partitions the filter already reads.
Pairs come in (transaction_id, postback_id) order so a job can page through them by keyset and
resume after the last one it handled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from query_api.logs.filters import LogQuery, where_clause
from query_api.logs.reader import TABLE, LogStore


@dataclass(frozen=True)
class Pair:
    """One (transaction, postback) to fire again, with the attempt whose input it repeats."""

    transaction_id: str
    postback_id: UUID
    refire_of: UUID
    source: str


@dataclass(frozen=True)
class PairPosition:
    """A keyset position: pairs strictly after this one in (transaction_id, postback_id) order."""

    transaction_id: str
    postback_id: UUID


def _pairs_sql(store: LogStore, query: LogQuery) -> tuple[str, dict[str, Any]]:
    """SELECT of the pairs `query` selects that have not succeeded since (no ORDER or LIMIT)."""
    where, params = where_clause(query)
    assert query.from_ms is not None, "the window's 'from' is filled in before selecting"
    table = store.table(TABLE)
    selected = (
        "SELECT transaction_id, postback_id, argMax(attempt_id, attempted_at) AS refire_of, "
        "argMax(source, attempted_at) AS source, max(attempted_at) AS last_at "
        f"FROM {table} {where or 'WHERE 1'} AND trigger != 'test' "
        "GROUP BY transaction_id, postback_id"
    )
    # transaction_id IN (...) lets the transaction_id bloom filter skip granules; the join then
    # matches the postback too. A pair without a success joins the default time (1970). GLOBAL:
    # on a cluster the set is computed once and sent to every shard (a no-op on one server).
    succeeded = (
        f"SELECT transaction_id, postback_id, max(attempted_at) AS ok_at FROM {table} "
        "WHERE status = 'Success' "
        "AND attempted_at >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') "
        "AND transaction_id GLOBAL IN (SELECT transaction_id FROM selected) "
        "GROUP BY transaction_id, postback_id"
    )
    sql = (
        f"WITH selected AS ({selected}) "
        "SELECT s.transaction_id AS transaction_id, s.postback_id AS postback_id, "
        "s.refire_of AS refire_of, s.source AS source "
        f"FROM selected AS s LEFT JOIN ({succeeded}) AS ok "
        "ON ok.transaction_id = s.transaction_id AND ok.postback_id = s.postback_id "
        "WHERE ok.ok_at < s.last_at"
    )
    return sql, params


async def count_pairs(store: LogStore, query: LogQuery) -> int:
    """How many pairs a bulk re-fire of `query` would fire now (the dry run's answer)."""
    sql, params = _pairs_sql(store, query)
    rows = await store.select(f"SELECT count() AS pairs FROM ({sql})", params)
    return int(rows[0]["pairs"])


async def select_pairs(
    store: LogStore, query: LogQuery, after: PairPosition | None, limit: int
) -> list[Pair]:
    """Up to `limit` pairs after `after`, in (transaction_id, postback_id) order."""
    sql, params = _pairs_sql(store, query)
    outer_where = ""
    if after is not None:
        outer_where = (
            "WHERE (transaction_id, postback_id) > ({after_transaction_id:String}, "
            "{after_postback_id:UUID})"
        )
        params |= {
            "after_transaction_id": after.transaction_id,
            "after_postback_id": str(after.postback_id),
        }
    rows = await store.select(
        f"SELECT * FROM ({sql}) {outer_where} ORDER BY transaction_id, postback_id LIMIT {limit}",
        params,
    )
    return [
        Pair(
            transaction_id=row["transaction_id"],
            postback_id=UUID(row["postback_id"]),
            refire_of=UUID(row["refire_of"]),
            source=row["source"],
        )
        for row in rows
    ]
