"""The schema's version: recorded by `postbacks migrate`, checked by the services at start.

On a ClickHouse server the schema is the operator's: `postbacks migrate` applies it once per
release with a DDL-capable account, and the services, on an account that may not change it,
check that the server and the schema are recent enough before they read or write a row. The
embedded engine belongs to the process that runs it, which migrates it itself (opening.py).

    migrate(store)            apply deploy/clickhouse/, then record SCHEMA_VERSION if newer
    check_versions(store)     raise TooOld unless server >= MIN_SERVER_VERSION and the
                              recorded schema >= SCHEMA_VERSION
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from postbacks.store.protocol import Store
from postbacks.store.schema import SCHEMA_VERSION, apply_schema

VERSION_TABLE = "postback_schema_version"
# The oldest ClickHouse the DDL and the queries run on: the attempt log's text indexes
# (`TYPE text(tokenizer = splitByNonAlpha)`, deploy/clickhouse/001) are generally available,
# with no setting to enable them, from 26.2 on.
MIN_SERVER_VERSION = (26, 2)


class TooOld(Exception):
    """The server or the schema is older than this release needs; a retry cannot help."""


@dataclass(frozen=True)
class Migration:
    server: str
    before: int  # 0: no version recorded (a new database, or a schema from before versions)
    after: int
    added_columns: list[tuple[str, str]]


def parse_version(text: str) -> tuple[int, ...]:
    """`26.9.2.1` -> (26, 9, 2, 1); a suffix after the numbers (`-testing`) is ignored."""
    numbers = re.match(r"\d+(?:\.\d+)*", text.strip())
    if numbers is None:
        raise ValueError(f"not a ClickHouse version: {text!r}")
    return tuple(int(part) for part in numbers.group(0).split("."))


async def server_version(store: Store) -> str:
    """What `SELECT version()` answers; also the first query of a connection, so the store's
    start-up probe (a refused password or certificate shows here)."""
    rows = await store.select("SELECT version() AS version")
    return str(rows[0]["version"])


def check_server_version(version: str) -> None:
    try:
        parsed = parse_version(version)
    except ValueError as garbled:  # a proxy's answer, say: refused by name, not a traceback
        raise TooOld(
            f"the server answered {version[:80]!r} to SELECT version(): is CLICKHOUSE_URL a "
            "ClickHouse server?"
        ) from garbled
    if parsed[:2] < MIN_SERVER_VERSION:
        needed = ".".join(map(str, MIN_SERVER_VERSION))
        raise TooOld(
            f"ClickHouse {version} is older than the {needed} this release needs (its text "
            "indexes, deploy/clickhouse/README.md): upgrade the server"
        )


async def recorded_schema_version(store: Store) -> int | None:
    """The newest version `postbacks migrate` recorded; None when the table is not there."""
    tables = await store.select(
        "SELECT count() AS found FROM system.tables "
        "WHERE database = {db:String} AND name = {t:String}",
        {"db": store.database, "t": VERSION_TABLE},
    )
    if not int(tables[0]["found"]):
        return None
    rows = await store.select(f"SELECT max(version) AS version FROM {store.table(VERSION_TABLE)}")
    return int(rows[0]["version"])


async def check_versions(store: Store) -> str:
    """The server's version, once it and the recorded schema are new enough; else TooOld."""
    version = await server_version(store)
    check_server_version(version)
    recorded = await recorded_schema_version(store)
    if recorded is None:
        raise TooOld(
            f"database {store.database} has no schema version (table {VERSION_TABLE} is not "
            f"there, or this account may not read it): run `postbacks migrate` with the "
            "migration account first (deploy/clickhouse/access/)"
        )
    if recorded < SCHEMA_VERSION:
        raise TooOld(
            f"schema version {recorded} of database {store.database} is older than the "
            f"{SCHEMA_VERSION} this release needs: run `postbacks migrate`"
        )
    return version


async def migrate(store: Store) -> Migration:
    """Apply the schema and record SCHEMA_VERSION unless a newer one is recorded; idempotent."""
    version = await server_version(store)
    check_server_version(version)
    before = await recorded_schema_version(store) or 0
    added = await apply_schema(store)
    if before < SCHEMA_VERSION:
        await store.execute(
            f"INSERT INTO {store.table(VERSION_TABLE)} (version, applied_at) "
            "SELECT {version:UInt32}, now64(3)",
            {"version": SCHEMA_VERSION},
        )
    return Migration(version, before, max(before, SCHEMA_VERSION), added)
