"""Columns a table's DDL has gained since the stored table was created, added in place.

`CREATE TABLE IF NOT EXISTS` leaves an existing table as it was, so after an upgrade that adds a
column (attempt_number, say) the services would read a column the table lacks. Each table's
own statement creates an empty scratch table beside it (`columns_of_<table>_<8 hex>`, dropped at
once; its own name per run, so concurrent `postbacks migrate` runs never drop each other's),
ClickHouse reports the columns it defines (system.columns: type, default, codec, comment), and
each one the stored table lacks is added with `ALTER TABLE ... ADD COLUMN`, after the column it
follows in the DDL; existing rows read the column's default. The scratch table is in the same
database, so the migration account needs privileges on that database alone, and may drop only
tables named `columns_of_*` (deploy/clickhouse/access/grants.sql).

Only additions: a changed type, key, index or view is not migrated, and a cluster's tables
(Distributed over `_local` ones) are only reported: one ALTER here would change the Distributed
table and leave its shards as they were.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence

from postbacks.store.protocol import Row, Store

_CREATE_TABLE = re.compile(r"^\s*CREATE TABLE IF NOT EXISTS (\w+)\.(\w+)", re.MULTILINE)
# The scratch table's name: `columns_of_<table>_<8 hex>`; the migration account may drop only
# these.
SCRATCH_PREFIX = "columns_of_"
log = logging.getLogger(__name__)

_COLUMNS = """
    SELECT name, type, default_kind, default_expression, compression_codec, comment
    FROM system.columns WHERE database = {database:String} AND table = {table:String}
    ORDER BY position
"""


async def add_missing_columns(store: Store, statements: Sequence[str]) -> list[tuple[str, str]]:
    """Add to each existing table the columns of its statement it lacks; (table, column) each.

    Run before the statements themselves: a table they are about to create is skipped, so a new
    database (a first start, every test) costs one query per table and no scratch table.
    """
    added: list[tuple[str, str]] = []
    for statement in statements:
        match = _CREATE_TABLE.search(statement)
        if match is None or match.group(1) != store.database:
            continue  # views and anything else are created, never altered
        table = match.group(2)
        have = {row["name"] for row in await _columns(store, table)}
        if not have:
            continue  # not there yet: the statement creates it as it is
        wanted = await _columns_of_statement(store, table, statement)
        missing = [column["name"] for column in wanted if column["name"] not in have]
        if missing and not await _alterable_here(store, table):
            log.warning(
                "%s.%s lacks the columns %s of its DDL and is a cluster's table: add them "
                "on every node (docs/production.md, deploy/clickhouse-cluster/)",
                store.database, table, ", ".join(missing),
            )  # fmt: skip
            continue
        previous: str | None = None
        for column in wanted:
            if column["name"] in missing:
                await store.execute(_add_column(store.table(table), column, previous))
                added.append((table, column["name"]))
            previous = column["name"]
    return added


async def _columns_of_statement(store: Store, table: str, statement: str) -> list[Row]:
    """The columns `statement` defines, as ClickHouse reads them: from a scratch table."""
    # A name of its own: another run (init containers start together) drops only its own. One a
    # crashed run left behind is empty and never read again.
    scratch = f"{SCRATCH_PREFIX}{table}_{uuid.uuid4().hex[:8]}"
    await store.execute(statement.replace(store.table(table), store.table(scratch), 1))
    try:
        return await _columns(store, scratch)
    finally:
        await store.execute(f"DROP TABLE IF EXISTS {store.table(scratch)}")


async def _alterable_here(store: Store, table: str) -> bool:
    """Whether one ALTER here changes the table: not a cluster's Distributed table (whose
    `_local` tables would keep the old columns) or a replicated one."""
    rows = await store.select(
        "SELECT engine FROM system.tables WHERE database = {database:String}"
        " AND name = {table:String}",
        {"database": store.database, "table": table},
    )
    engine = str(rows[0]["engine"]) if rows else ""
    return engine.endswith("MergeTree") and not engine.startswith("Replicated")


async def _columns(store: Store, table: str) -> list[Row]:
    return await store.select(_COLUMNS, {"database": store.database, "table": table})


def _add_column(table: str, column: Row, after: str | None) -> str:
    parts = [f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS `{column['name']}` {column['type']}"]
    if column["default_kind"]:
        parts.append(f"{column['default_kind']} {column['default_expression']}")
    if column["compression_codec"]:
        parts.append(column["compression_codec"])
    if column["comment"]:
        parts.append("COMMENT " + _quoted(column["comment"]))
    parts.append(f"AFTER `{after}`" if after else "FIRST")
    return " ".join(parts)


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
