"""`postbacks migrate`'s work (store/migration.py) and the services' check of its version, on
chDB and through clickhouse-connect (the HTTP front over chDB), from an empty database."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from postbacks.settings import CommonSettings
from postbacks.startup import Misconfigured
from postbacks.store.migration import VERSION_TABLE, TooOld, check_versions, migrate
from postbacks.store.missing_columns import SCRATCH_PREFIX, add_missing_columns
from postbacks.store.opening import ready_store
from postbacks.store.protocol import Params, QuerySettings, Row, Store
from postbacks.store.schema import SCHEMA_VERSION, schema_statements


async def _recorded(store: Store) -> list[int]:
    rows = await store.select(
        f"SELECT version FROM {store.table(VERSION_TABLE)} ORDER BY applied_at, version"
    )
    return [int(row["version"]) for row in rows]


async def test_migrate_creates_the_schema_records_its_version_and_is_idempotent(
    empty: Store,
) -> None:
    first = await migrate(empty)
    assert (first.before, first.after, first.added_columns) == (0, SCHEMA_VERSION, [])
    assert first.server.startswith("26.")
    tables = await empty.select(
        "SELECT name FROM system.tables WHERE database = {db:String}", {"db": empty.database}
    )
    assert len(tables) == len(schema_statements(empty.database))
    assert await _recorded(empty) == [SCHEMA_VERSION]
    await check_versions(empty)  # what a service asks at start

    again = await migrate(empty)
    assert (again.before, again.after, again.added_columns) == (SCHEMA_VERSION,) * 2 + ([],)
    assert await _recorded(empty) == [SCHEMA_VERSION]  # nothing recorded twice


async def test_migrate_adds_a_column_an_older_table_lacks(empty: Store) -> None:
    await migrate(empty)
    attempts = empty.table("postback_attempts")
    await empty.execute(f"ALTER TABLE {attempts} DROP COLUMN attempt_number")

    migration = await migrate(empty)
    assert migration.added_columns == [("postback_attempts", "attempt_number")]
    columns = await empty.select(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String}"
        " ORDER BY position",
        {"db": empty.database, "t": "postback_attempts"},
    )
    names = [c["name"] for c in columns]
    assert names[names.index("refire_of") + 1] == "attempt_number"  # where its DDL has it
    scratch = await empty.select(
        "SELECT name FROM system.tables WHERE database = {db:String}"
        " AND startsWith(name, {prefix:String})",
        {"db": empty.database, "prefix": SCRATCH_PREFIX},
    )
    assert scratch == []


class _Interleaved:
    """A store that runs a whole second column migration right after this one creates the
    attempt log's scratch table, before it reads it: two init containers at once."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.other: list[tuple[str, str]] | None = None

    @property
    def database(self) -> str:
        return self._store.database

    def table(self, name: str) -> str:
        return self._store.table(name)

    async def execute(self, sql: str, params: Params | None = None) -> None:
        await self._store.execute(sql, params)
        scratch = self._store.table(f"{SCRATCH_PREFIX}postback_attempts")
        if self.other is None and f"CREATE TABLE IF NOT EXISTS {scratch}" in sql:
            self.other = await add_missing_columns(self._store, schema_statements(self.database))

    async def select(
        self, sql: str, params: Params | None = None, settings: QuerySettings | None = None
    ) -> list[Row]:
        return await self._store.select(sql, params, settings)

    async def insert_json(self, table: str, rows: Sequence[bytes]) -> None:
        await self._store.insert_json(table, rows)

    async def ping(self) -> None:
        await self._store.ping()

    async def close(self) -> None:
        await self._store.close()


async def test_concurrent_migrations_keep_their_own_scratch_tables(empty: Store) -> None:
    await migrate(empty)
    await empty.execute(
        f"ALTER TABLE {empty.table('postback_attempts')} DROP COLUMN attempt_number"
    )
    interleaved = _Interleaved(empty)

    added = await add_missing_columns(interleaved, schema_statements(empty.database))
    # With one scratch name for both, the second run drops the first one's table, which then
    # reads no columns at all and adds nothing.
    assert added == interleaved.other == [("postback_attempts", "attempt_number")]
    scratch = await empty.select(
        "SELECT name FROM system.tables WHERE database = {db:String}"
        " AND startsWith(name, {prefix:String})",
        {"db": empty.database, "prefix": SCRATCH_PREFIX},
    )
    assert scratch == []


async def test_a_newer_recorded_version_is_kept(empty: Store) -> None:
    await migrate(empty)
    newer = SCHEMA_VERSION + 3
    await empty.execute(f"INSERT INTO {empty.table(VERSION_TABLE)} SELECT {newer}, now64(3) + 1")
    migration = await migrate(empty)
    assert (migration.before, migration.after) == (newer, newer)
    assert await _recorded(empty) == [SCHEMA_VERSION, newer]
    await check_versions(empty)  # an older release's services run on a newer schema


async def test_the_check_refuses_an_unmigrated_or_older_schema(empty: Store) -> None:
    with pytest.raises(TooOld, match=r"has no schema version .* run `postbacks migrate`"):
        await check_versions(empty)
    await migrate(empty)
    await empty.execute(f"TRUNCATE TABLE {empty.table(VERSION_TABLE)}")
    await empty.execute(
        f"INSERT INTO {empty.table(VERSION_TABLE)} SELECT {SCHEMA_VERSION - 1}, now64(3)"
    )
    with pytest.raises(TooOld) as old:
        await check_versions(empty)
    assert str(old.value) == (
        f"schema version {SCHEMA_VERSION - 1} of database {empty.database} is older than the "
        f"{SCHEMA_VERSION} this release needs: run `postbacks migrate`"
    )


async def test_a_service_on_a_server_checks_and_never_applies_the_schema(empty: Store) -> None:
    url = "http://127.0.0.1:8123"  # ready_store reads only whether it is set
    settings = CommonSettings.model_validate({"clickhouse_url": url})
    with pytest.raises(Misconfigured, match="run `postbacks migrate`"):
        await ready_store(empty, settings)
    databases = await empty.select(
        "SELECT name FROM system.databases WHERE name = {db:String}", {"db": empty.database}
    )
    assert databases == []  # it created nothing
    # On the embedded engine (no CLICKHOUSE_URL) the service migrates it itself.
    await ready_store(empty, CommonSettings.model_validate({"clickhouse_url": None}))
    assert await _recorded(empty) == [SCHEMA_VERSION]
    await ready_store(empty, settings)
