"""Retention as a setting: each table's TTL is set when it differs from the settings.

The DDL in deploy/clickhouse/ has no TTL, so that a fixed retention never lives in two places.
POSTBACKS_LOG_RETENTION_DAYS and POSTBACKS_ROLLUP_RETENTION_DAYS are applied by whoever owns the
schema: `postbacks migrate` on a server, the log-writer at start on its own chDB. Whole expired
parts are dropped (ttl_only_drop_parts), so a daily-partitioned log loses a day at a time, never
rewriting parts to delete rows.
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


async def _table_engine(store: Store, table: str) -> tuple[str, str]:
    """The table's engine name and its full definition (where the TTL clause shows)."""
    rows = await store.select(
        "SELECT engine, engine_full FROM system.tables "
        "WHERE database = {db:String} AND name = {t:String}",
        {"db": store.database, "t": table},
    )
    if not rows:
        raise LookupError(f"table {store.database}.{table} does not exist; apply the schema first")
    return str(rows[0]["engine"]), str(rows[0]["engine_full"])


def holds_its_rows(engine: str) -> bool:
    """Whether a table of this engine stores rows itself, and so can carry a TTL.

    On a cluster (deploy/clickhouse-cluster) the tables the services name are Distributed: they
    hold no rows, ClickHouse refuses `MODIFY TTL` on them, and the TTL is in the DDL of the
    `_local` tables on each shard, changed there ON CLUSTER by whoever runs the cluster.
    """
    return engine != "Distributed"


async def apply_retention(store: Store, log_days: int, rollup_days: int) -> None:
    for table, days in (
        ("postback_attempts", log_days),
        ("postback_attempts_by_minute", rollup_days),
    ):
        engine, engine_full = await _table_engine(store, table)
        if not holds_its_rows(engine):
            log.info(
                "retention of %s not set: it is a %s table (a cluster); its TTL is in the DDL "
                "of %s_local on each shard (deploy/clickhouse-cluster), not %d days from settings",
                table,
                engine,
                table,
                days,
            )
            continue
        match = _TTL_DAYS.search(engine_full)
        if match and int(match.group(1)) == days:
            continue
        ttl = f"{TTL_COLUMNS[table]} + INTERVAL {int(days)} DAY"
        await store.execute(f"ALTER TABLE {store.table(table)} MODIFY TTL {ttl}")
        log.info("retention of %s set to %d days", table, days)
