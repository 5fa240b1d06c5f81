"""Retention as a setting: the log-writer sets each table's TTL at start when it differs.

The DDL in deploy/clickhouse/ has no TTL, so that a fixed retention never lives in two places;
the owner of the tables' contents (the log-writer) applies POSTBACKS_LOG_RETENTION_DAYS and
POSTBACKS_ROLLUP_RETENTION_DAYS. Whole expired parts are dropped (ttl_only_drop_parts), so a
daily-partitioned log loses a day at a time, never rewriting parts to delete rows.
"""

from __future__ import annotations

import logging
import re

from postbacks.store import Store

log = logging.getLogger(__name__)

# table -> the expression its TTL counts days from
TTL_COLUMNS = {
    "postback_attempts": "toDateTime(attempted_at)",
    "postback_attempts_by_minute": "minute",
}
_TTL_DAYS = re.compile(r"\bTTL\b.*?toIntervalDay\((\d+)\)", re.DOTALL)


async def current_ttl_days(store: Store, table: str) -> int | None:
    rows = await store.select(
        "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        {"db": store.database, "t": table},
    )
    if not rows:
        raise LookupError(f"table {store.database}.{table} does not exist; apply the schema first")
    match = _TTL_DAYS.search(str(rows[0]["engine_full"]))
    return int(match.group(1)) if match else None


async def apply_retention(store: Store, log_days: int, rollup_days: int) -> None:
    for table, days in (
        ("postback_attempts", log_days),
        ("postback_attempts_by_minute", rollup_days),
    ):
        if await current_ttl_days(store, table) == days:
            continue
        ttl = f"{TTL_COLUMNS[table]} + INTERVAL {int(days)} DAY"
        await store.execute(f"ALTER TABLE {store.table(table)} MODIFY TTL {ttl}")
        log.info("retention of %s set to %d days", table, days)
