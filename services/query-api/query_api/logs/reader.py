"""Reading the attempt log: one filtered page newest first, or one attempt in full.

Output is JSON-ready dicts with the design §6 names, in §6 order: UUIDs as strings (refire_of
null when absent), attempted_at as RFC 3339 UTC with milliseconds, numbers as numbers. A page
leaves out the fields that are not `listed` (`source`: the inputs can be large and the list
does not show them); the detail keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from postbacks.attempts import FIELDS
from postbacks.store import Params, Row
from query_api.logs.cursor import ORDER_BY, CursorPosition, encode_cursor
from query_api.logs.filters import LogQuery, where_clause

TABLE = "postback_attempts"

# §6 order. attempted_at is read as Unix milliseconds and formatted here, so the answer does
# not depend on the backend's date_time_output_format (chDB and a server default differently).
_COLUMNS = tuple(f.name for f in FIELDS)
_LIST_COLUMNS = tuple(f.name for f in FIELDS if f.column.listed)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Item = dict[str, Any]


class LogStore(Protocol):
    """What reading the log needs from a Store."""

    def table(self, name: str) -> str: ...

    async def select(self, sql: str, params: Params | None = None) -> list[Row]: ...


@dataclass(frozen=True)
class LogPage:
    """One page of attempts, newest first; next_cursor is None on the last page."""

    items: list[Item]
    next_cursor: str | None


async def read_logs(store: LogStore, query: LogQuery) -> LogPage:
    """The page of attempts `query` selects, newest first, without `source`."""
    # One row more than the page shows tells whether another page follows, without a count().
    wanted = query.limit + 1
    rows: list[Row] = []
    position = query.cursor
    # The log-writer stores an attempt once, but a copy can exist for a while (two writers
    # racing through a consumer-group rebalance) until ReplacingMergeTree merges it away. Both
    # copies share the whole sort key, so they arrive adjacent and the second is dropped here;
    # a page that lost rows that way is topped up from where the read stopped, so every page
    # but the last stays full. Not `LIMIT 1 BY attempt_id` in SQL: that stops ClickHouse from
    # ending an ordered read early (one publisher's failures on 10M rows: 1.3 s against 45 ms).
    while len(rows) < wanted:
        needed = wanted - len(rows)
        batch = await _read_page(store, replace(query, cursor=position), needed)
        for row in batch:
            if not rows or row["attempt_id"] != rows[-1]["attempt_id"]:
                rows.append(row)
        if len(batch) < needed:
            break  # no more matching rows
        # The next read starts strictly after this row, so no copy of it can follow.
        position = _position(batch[-1])
    items = [_item(row, _LIST_COLUMNS) for row in rows[: query.limit]]
    next_cursor = None
    if len(rows) > query.limit:
        next_cursor = encode_cursor(_position(rows[query.limit - 1]))
    return LogPage(items=items, next_cursor=next_cursor)


async def _read_page(store: LogStore, query: LogQuery, limit: int) -> list[Row]:
    where, params = where_clause(query)
    sql = (
        f"SELECT {_select_list(_LIST_COLUMNS)} FROM {store.table(TABLE)} {where} "
        f"ORDER BY {ORDER_BY} LIMIT {limit}"
    )
    return await store.select(sql, params)


def _position(row: Row) -> CursorPosition:
    return CursorPosition(row["attempted_at_ms"], UUID(row["attempt_id"]))


async def read_attempt(store: LogStore, attempt_id: UUID) -> Item | None:
    """One attempt with every field including `source`, or None if there is no such attempt."""
    # attempt_id is not a prefix of the table's key, so this reads every part's attempt_id
    # column; cheap for a column of UUIDs, and the detail page is opened one attempt at a time.
    sql = (
        f"SELECT {_select_list(_COLUMNS)} FROM {store.table(TABLE)} "
        "WHERE attempt_id = {attempt_id:UUID} LIMIT 1"
    )
    rows = await store.select(sql, {"attempt_id": str(attempt_id)})
    return _item(rows[0], _COLUMNS) if rows else None


def format_time(millis: int) -> str:
    """RFC 3339 UTC with milliseconds, e.g. "2026-11-28T01:02:03.456Z"."""
    moment = _EPOCH + timedelta(milliseconds=millis)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def list_select() -> str:
    """A page's columns as a SELECT list, attempted_at as attempted_at_ms: for the other readers
    that hand out a page's items (the live view, query_api/live/)."""
    return _select_list(_LIST_COLUMNS)


def list_item(row: Row) -> Item:
    """A row read with list_select() as an item of a page."""
    return _item(row, _LIST_COLUMNS)


def _select_list(columns: tuple[str, ...]) -> str:
    # A new alias, not `AS attempted_at`: in ClickHouse an alias shadows the column in WHERE
    # and ORDER BY, so the cursor and time bounds would compare milliseconds with a time
    # (EXPLAIN: 0 granules; the page comes back empty).
    return ", ".join(
        "toUnixTimestamp64Milli(attempted_at) AS attempted_at_ms" if c == "attempted_at" else c
        for c in columns
    )


def _item(row: Row, columns: tuple[str, ...]) -> Item:
    # UUIDs already arrive as their canonical strings, and a NULL refire_of as None.
    return {
        c: format_time(row["attempted_at_ms"]) if c == "attempted_at" else row[c] for c in columns
    }
