"""The cluster DDL (deploy/clickhouse-cluster) is generated from the single-node DDL, is current,
and its local tables are the single-node tables: same columns, codecs, indexes, keys."""

from __future__ import annotations

import importlib.util
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import pytest

from postbacks.store.chdb_backend import EmbeddedStore

CLUSTER_DIR = Path(__file__).resolve().parents[2] / "deploy" / "clickhouse-cluster"
TABLES = (
    "postback_attempts",
    "postback_attempts_by_minute",
    "postback_configs",
    "postback_refire_jobs",
    "postback_refire_job_attempts",
)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cluster_ddl", CLUSTER_DIR / "cluster_ddl.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_cluster_ddl_is_current() -> None:
    rendered: dict[str, str] = _generator().render()
    on_disk = {p.name: p.read_text() for p in CLUSTER_DIR.glob("*.sql")}
    stale = sorted(n for n in rendered.keys() | on_disk.keys() if rendered.get(n) != on_disk.get(n))
    assert not stale, f"run python deploy/clickhouse-cluster/cluster_ddl.py: {stale} differ"
    for table in TABLES:
        (distributed,) = [t for n, t in rendered.items() if n.endswith(f"b_{table}.sql")]
        assert f"postbacks.{table} ON CLUSTER" in distributed
        assert f"Distributed('{{cluster}}', postbacks, {table}_local," in distributed


def _single_server_form(sql: str, database: str) -> str:
    """What chDB can run: no cluster, no replication (no Keeper here); names in `database`."""
    sql = sql.replace(" ON CLUSTER '{cluster}'", "")
    sql = re.sub(r"Replicated(\w*MergeTree)\('[^']*', '[^']*'(?:, )?", r"\1(", sql)
    return re.sub(r"\bpostbacks\.(?=postback_)", f"{database}.", sql)


@pytest.fixture
async def cluster_locals(embedded_store: EmbeddedStore) -> AsyncIterator[str]:
    database = f"cluster_{uuid.uuid4().hex[:12]}"
    await embedded_store.execute(f"CREATE DATABASE {database}")
    try:
        for path in sorted(CLUSTER_DIR.glob("*.sql")):
            sql = path.read_text()
            if "ENGINE = Distributed" in sql or "CREATE DATABASE" in sql:
                continue
            await embedded_store.execute(_single_server_form(sql, database).strip().rstrip(";"))
        yield database
    finally:
        await embedded_store.execute(f"DROP DATABASE IF EXISTS {database}")


async def test_local_tables_match_the_single_node_tables(
    embedded_store: EmbeddedStore, cluster_locals: str
) -> None:
    store = embedded_store

    async def shape(database: str, table: str) -> dict[str, object]:
        params = {"db": database, "t": table}
        return {
            "columns": await store.select(
                "SELECT name, type, default_expression, compression_codec, comment "
                "FROM system.columns WHERE database = {db:String} AND table = {t:String} "
                "ORDER BY position",
                params,
            ),
            "indexes": await store.select(
                "SELECT name, type_full, expr, granularity FROM system.data_skipping_indices "
                "WHERE database = {db:String} AND table = {t:String} ORDER BY name",
                params,
            ),
            "projections": await store.select(
                "SELECT name, sorting_key, query FROM system.projections "
                "WHERE database = {db:String} AND table = {t:String} ORDER BY name",
                params,
            ),
            "keys": await store.select(
                "SELECT sorting_key, partition_key, primary_key FROM system.tables "
                "WHERE database = {db:String} AND name = {t:String}",
                params,
            ),
        }

    for table in TABLES:
        local = await shape(cluster_locals, f"{table}_local")
        assert local["columns"], f"{table}_local was not created"
        assert local == await shape(store.database, table), table

    # On each shard the view rolls the local attempts up into the local rollup.
    row = (
        f'{{"attempt_id": "{uuid.uuid4()}", "attempted_at": "2026-01-01 00:00:00.000", '
        '"status": "Failed", "publisher_id": 7, "response_code": 503}'
    )
    await store.execute(
        f"INSERT INTO {cluster_locals}.postback_attempts_local FORMAT JSONEachRow {row}"
    )
    (rollup,) = await store.select(
        f"SELECT publisher_id, sum(attempts) AS attempts "
        f"FROM {cluster_locals}.postback_attempts_by_minute_local GROUP BY publisher_id"
    )
    assert rollup == {"publisher_id": 7, "attempts": 1}
