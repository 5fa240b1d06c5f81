"""`postbacks migrate`: the schema of deploy/clickhouse/ onto a ClickHouse server, and its version.

Run once per release, before the log-writer and the query-api start (an operator, or a one-shot
container they depend on), with an account that may change the schema; the services' account
may not (deploy/clickhouse/access/). It waits for the server as the services do, refuses a
server too old, and is idempotent: run again, it changes nothing and says so.

The embedded engine needs none of this: the process that runs it applies the schema itself.
"""

from __future__ import annotations

from collections.abc import Callable

from log_writer.retention import apply_retention
from log_writer.settings import LogWriterSettings
from postbacks.startup import Misconfigured
from postbacks.store.errors import StoreQueryError
from postbacks.store.migration import Migration, TooOld, migrate
from postbacks.store.opening import open_store, wait_for_server
from postbacks.store.protocol import Store
from postbacks.store.schema import SCHEMA_VERSION

NO_SERVER = (
    "refusing to migrate: CLICKHOUSE_URL is not set. `postbacks migrate` is for a ClickHouse "
    "server; the embedded engine (chDB) gets its schema from the process that runs it"
)


async def migrate_server(store: Store, settings: LogWriterSettings) -> Migration:
    """Wait for the server, then apply the schema, its version, and the retention of
    POSTBACKS_LOG_RETENTION_DAYS and POSTBACKS_ROLLUP_RETENTION_DAYS (a TTL is part of the
    schema, which the services' account may not change). Misconfigured, naming what to fix,
    when the server is too old or refuses a statement. `postbacks migrate` and, on a server,
    `postbacks dev`."""
    await wait_for_server(store, settings)
    try:
        migration = await migrate(store)
        await apply_retention(store, settings.log_retention_days, settings.rollup_retention_days)
    except TooOld as old:
        raise Misconfigured("CLICKHOUSE_URL", str(old)) from old
    except StoreQueryError as refused:  # ACCESS_DENIED, most likely
        raise Misconfigured(
            "the privileges of the account (deploy/clickhouse/access/grants.sql, "
            "role postbacks_migrate)",
            f"ClickHouse refused a schema statement: {refused}",
        ) from refused
    return migration


async def run_migrate(settings: LogWriterSettings, echo: Callable[[str], object]) -> None:
    """Wait for the server, migrate it, and say what was done, line by line, through `echo`."""
    store = open_store(settings)
    try:
        migration = await migrate_server(store, settings)
    finally:
        await store.close()
    for line in report(migration, store.database):
        echo(line)


def report(migration: Migration, database: str) -> list[str]:
    lines = [f"ClickHouse {migration.server}, database {database}: schema and retention applied"]
    lines += [f"added column {table}.{column}" for table, column in migration.added_columns]
    if migration.before < SCHEMA_VERSION:
        lines.append(f"schema version {migration.before or 'none'} -> {SCHEMA_VERSION} recorded")
    elif migration.before == SCHEMA_VERSION:
        lines.append(f"schema version {SCHEMA_VERSION} already recorded: nothing to record")
    else:
        lines.append(
            f"schema version {migration.before} recorded by a newer release is kept (this one "
            f"has {SCHEMA_VERSION}), whose services run on it too"
        )
    return lines
