"""Time as the log keeps it."""

from __future__ import annotations

from datetime import UTC, datetime


def now_ms() -> datetime:
    """Now in UTC, cut to milliseconds: the precision of every DateTime64(3) column, so a value
    read back from ClickHouse equals the one that was written and returned."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
