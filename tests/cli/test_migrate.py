"""`postbacks migrate` against a server (the HTTP front over chDB): what it prints, that a second
run changes nothing, and a one-line refusal (exit 2) when the server refuses the account; and
`postbacks dev` on a server, which migrates it the same way."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postbacks.startup import Misconfigured
from postbacks.store.chdb_backend import EmbeddedStore
from postbacks.store.migration import VERSION_TABLE
from postbacks.store.schema import SCHEMA_VERSION
from postbacks_cli.dev import DevSettings, run_dev
from postbacks_cli.main import app as cli
from tests.store.clickhouse_http_front import ClickHouseHttpFront


@pytest.fixture(scope="module")
def server(chdb_dir: Path) -> Iterator[ClickHouseHttpFront]:
    front = ClickHouseHttpFront(chdb_dir, accounts={"migrator": "ddl-pass"})
    front.start()
    yield front
    front.stop()


@pytest.fixture
async def database(chdb_dir: Path) -> AsyncIterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    await EmbeddedStore(chdb_dir, database=name).execute(f"DROP DATABASE IF EXISTS {name}")


def _migrate(
    server: ClickHouseHttpFront, database: str, password: str, **settings: str
) -> tuple[int, str, str]:
    env = {
        **settings,
        "CLICKHOUSE_URL": f"http://migrator@{server.host}:{server.port}/?database={database}",
        "POSTBACKS_CLICKHOUSE_PASSWORD": password,
        "POSTBACKS_CLICKHOUSE_DATABASE": None,
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(cli, ["migrate"], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_migrate_applies_records_and_is_idempotent(
    server: ClickHouseHttpFront, database: str, chdb_dir: Path
) -> None:
    code, out, err = _migrate(server, database, "ddl-pass", POSTBACKS_LOG_RETENTION_DAYS="9")
    assert code == 0, err
    (table,) = asyncio.run(
        EmbeddedStore(chdb_dir, database=database).select(
            "SELECT engine_full FROM system.tables "
            "WHERE database = {db:String} AND name = {t:String}",
            {"db": database, "t": "postback_attempts"},
        )
    )
    assert "toIntervalDay(9)" in table["engine_full"]  # the retention is migrate's to set
    first, recorded = out.splitlines()
    assert first.startswith("ClickHouse 26.")
    assert first.endswith(f"database {database}: schema and retention applied")
    assert recorded == f"schema version none -> {SCHEMA_VERSION} recorded"

    code, out, err = _migrate(server, database, "ddl-pass")
    assert code == 0, err
    assert out.splitlines()[1] == (
        f"schema version {SCHEMA_VERSION} already recorded: nothing to record"
    )


def test_a_refused_account_is_one_line_and_exit_2(server: ClickHouseHttpFront) -> None:
    code, _, err = _migrate(server, f"test_{uuid.uuid4().hex[:12]}", "pw-7f3c9a")
    assert code == 2
    (line,) = err.splitlines()
    assert line.startswith("postbacks migrate refusing to start: ClickHouse refused the account")
    assert line.endswith("(or the user:password of CLICKHOUSE_URL)")
    assert "pw-7f3c9a" not in line


async def test_dev_on_a_server_refuses_a_refused_statement_as_migrate_does(
    server: ClickHouseHttpFront, database: str, chdb_dir: Path, kafka: str, tmp_path: Path
) -> None:
    # The front has no privileges to refuse with: a version table of another shape makes
    # ClickHouse refuse migrate's first statement on it instead.
    store = EmbeddedStore(chdb_dir, database=database)
    await store.execute(f"CREATE DATABASE {database}")
    await store.execute(f"CREATE TABLE {store.table(VERSION_TABLE)} (x String) ENGINE = Memory")
    settings = DevSettings(
        kafka_bootstrap=kafka,
        clickhouse_url=f"http://migrator:ddl-pass@{server.host}:{server.port}/?database={database}",
        data_dir=tmp_path,
    )
    with pytest.raises(Misconfigured) as refused:
        await run_dev(settings)
    assert refused.value.setting.endswith("role postbacks_migrate)")
    assert refused.value.problem.startswith("ClickHouse refused a schema statement")
