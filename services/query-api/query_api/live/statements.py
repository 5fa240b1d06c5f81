"""The live view's SQL: one read for every filter set being watched, and a resumed stream's rows.

The read of each interval selects the recent rows any watched filter set matches, and says for
each row which ones did:

    SELECT <a page's columns>, [(c0), (c1), ...] AS matched
    FROM postback_attempts
    WHERE attempted_at >= <now - lookback> AND ((c0) OR (c1) OR ...)
    ORDER BY attempted_at DESC, attempt_id DESC LIMIT <rows per poll>

Each condition is the filter language's own (filters.where_clause), its values bound under a
name of its own (`w3_0`). The conditions are written in WHERE, not read back from `matched`, so
that ClickHouse's indexes see them (a bloom filter skips the granules no publisher_id asked for).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from postbacks.store import Params
from query_api.live.positions import newer_condition
from query_api.logs.cursor import ORDER_BY, CursorPosition
from query_api.logs.filters import ColumnFilter, LogQuery, where_clause
from query_api.logs.reader import list_select

_SINCE = "attempted_at >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')"


@dataclass(frozen=True)
class Condition:
    """One filter set as a boolean SQL expression, with the values it binds."""

    sql: str
    params: dict[str, str | int]

    @property
    def size(self) -> int:
        """The characters it adds to the read: its SQL twice (SELECT and WHERE), its values."""
        return 2 * len(self.sql) + sum(len(str(value)) for value in self.params.values())


def condition(filters: tuple[ColumnFilter, ...], prefix: str) -> Condition:
    """The condition of `filters`, its values bound as `<prefix>0`, `<prefix>1`, ...; always
    true ("1") for none."""
    where, params = where_clause(LogQuery(filters=filters), prefix)
    return Condition(f"({where.removeprefix('WHERE ')})" if where else "1", params)


def poll(
    table: str, conditions: Sequence[Condition], since_ms: int, limit: int
) -> tuple[str, Params]:
    """The read of one interval: rows since `since_ms` that any condition matches, newest
    first, each with `matched`, one 0 or 1 per condition in their order."""
    listed = ", ".join(c.sql for c in conditions)
    any_of = " OR ".join(c.sql for c in conditions)
    sql = (
        f"SELECT {list_select()}, [{listed}] AS matched FROM {table} "
        f"WHERE {_SINCE} AND ({any_of}) ORDER BY {ORDER_BY} LIMIT {limit}"
    )
    params: dict[str, str | int | float | None] = {"since_ms": since_ms}
    for c in conditions:
        params.update(c.params)
    return sql, params


def resumed(
    table: str, where: Condition, after: CursorPosition, since_ms: int, limit: int
) -> tuple[str, Params]:
    """The rows a resumed stream is sent first: newer than `after` and since `since_ms`,
    matching `where`, newest first."""
    newer, newer_params = newer_condition(after)
    sql = (
        f"SELECT {list_select()} FROM {table} WHERE {_SINCE} AND {newer} AND {where.sql} "
        f"ORDER BY {ORDER_BY} LIMIT {limit}"
    )
    return sql, {"since_ms": since_ms, **newer_params, **where.params}
