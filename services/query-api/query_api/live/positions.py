"""Where a live client is in the log: the ids of its events, and "newer than" in SQL and Python.

A position is the log's own key, (attempted_at, attempt_id), written as the log's cursor
(logs/cursor.py): an event's `id:` is one, and a client that reconnects sends it back as
Last-Event-ID. Newer means later in the table's key order, the reverse of a page's order.
"""

from __future__ import annotations

from uuid import UUID

from postbacks.store import Params, Row
from query_api.logs.cursor import CursorPosition

# Above every attempt id in any order: the position just before a millisecond is (ms - 1, this).
_LAST_ID = UUID(int=2**128 - 1)
_HALF = 2**64 - 1


def before(millis: int) -> CursorPosition:
    """The position just before every attempt at or after `millis`."""
    return CursorPosition(millis - 1, _LAST_ID)


def position_of(row: Row) -> CursorPosition:
    """The position of a row read with attempted_at_ms and attempt_id."""
    return CursorPosition(row["attempted_at_ms"], UUID(row["attempt_id"]))


def order_key(position: CursorPosition) -> tuple[int, int, int]:
    """The position as ClickHouse orders it: the time, then the attempt id, which it compares
    as two UInt64 halves, the last 8 bytes first (checked on chDB 26.9; tests/attempts.py)."""
    uuid = position.attempt_id.int
    return position.attempted_at_ms, uuid & _HALF, uuid >> 64


def later(a: CursorPosition, b: CursorPosition) -> CursorPosition:
    return a if order_key(a) >= order_key(b) else b


def newer_condition(position: CursorPosition) -> tuple[str, Params]:
    """SQL (and its params) for "comes after `position` in the table's key order": the mirror of
    cursor.after_condition, spelled out for the same reason (the primary key serves the
    `attempted_at >=` conjunct, not a tuple comparison)."""
    t = "fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC')"
    sql = f"attempted_at >= {t} AND (attempted_at > {t} OR attempt_id > {{after_id:UUID}})"
    return sql, {"after_ms": position.attempted_at_ms, "after_id": str(position.attempt_id)}
