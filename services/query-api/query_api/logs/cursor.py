"""Keyset pagination over the attempt log: the page order, the cursor, and "older than" in SQL.

Pages are read newest first in the table's own key order, `attempted_at DESC, attempt_id DESC`
(deploy/clickhouse/001_postback_attempts.sql), so a page is a reverse range scan of the primary
key. A cursor is the key of the last row a page returned; the next page holds the rows strictly
after it in that order. Since (attempted_at, attempt_id) is unique, every row is on exactly one
page, however many rows share a millisecond, and rows written meanwhile never shift a page
(newer rows land before the cursor, not after it).

The cursor is opaque to clients: urlsafe base64 (no padding) of `{"t": <ms>, "id": "<uuid>"}`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

# The order every page is read in; the cursor condition below must match it term for term.
ORDER_BY = "attempted_at DESC, attempt_id DESC"

# DateTime64's range (1900-01-01 to 2299-12-31) in Unix milliseconds; a cursor outside it was
# not made by us.
MIN_MILLIS = -2_208_988_800_000
MAX_MILLIS = 10_413_791_999_999

# A cursor we made is under 80 characters; refusing long ones bounds the work spent on garbage.
_MAX_CURSOR_LENGTH = 200
_NOT_OURS = "it is not a next_cursor this service returned"


class CursorError(ValueError):
    """The text is not a cursor this service made."""


@dataclass(frozen=True)
class CursorPosition:
    """The sort key of the last row a page returned."""

    attempted_at_ms: int
    attempt_id: UUID


def encode_cursor(position: CursorPosition) -> str:
    """The opaque `next_cursor` text for a page that ended at `position`."""
    payload = json.dumps(
        {"t": position.attempted_at_ms, "id": str(position.attempt_id)}, separators=(",", ":")
    )
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(text: str) -> CursorPosition:
    """The position a cursor from `encode_cursor` stands for; CursorError for anything else."""
    if not text or len(text) > _MAX_CURSOR_LENGTH:
        raise CursorError(_NOT_OURS)
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        data: Any = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise CursorError(_NOT_OURS) from exc
    if not isinstance(data, dict) or set(data) != {"t", "id"}:
        raise CursorError(_NOT_OURS)
    millis, attempt_id = data["t"], data["id"]
    # bool is an int in Python; a cursor with "t": true was not made by encode_cursor.
    if type(millis) is not int or not MIN_MILLIS <= millis <= MAX_MILLIS:
        raise CursorError("it holds no valid time")
    if not isinstance(attempt_id, str):
        raise CursorError("it holds no valid attempt id")
    try:
        return CursorPosition(millis, UUID(attempt_id))
    except ValueError as exc:
        raise CursorError("it holds no valid attempt id") from exc


def after_condition(position: CursorPosition) -> tuple[str, dict[str, str | int]]:
    """SQL (and its params) for "comes after `position` in ORDER_BY", i.e. older.

    This is `(attempted_at, attempt_id) < (t, id)` spelled out: ClickHouse does not use the
    primary key for a tuple comparison (EXPLAIN shows every granule read), but it does for the
    `attempted_at <= t` conjunct, so a deep page stays a range scan. `attempt_id < id` uses
    ClickHouse's UUID order, the same one ORDER BY uses, whatever that order is.
    """
    t = "fromUnixTimestamp64Milli({cursor_ms:Int64}, 'UTC')"
    sql = f"attempted_at <= {t} AND (attempted_at < {t} OR attempt_id < {{cursor_id:UUID}})"
    return sql, {"cursor_ms": position.attempted_at_ms, "cursor_id": str(position.attempt_id)}
