"""Retention at the log-writer's start: set on a single node, skipped (not failed) on a cluster,
where the services' tables are Distributed and the TTL lives in the `_local` tables' DDL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from log_writer.retention import apply_retention, holds_its_rows
from postbacks.store.chdb_backend import EmbeddedStore
from tests.waiting import ceiling

REPO = Path(__file__).resolve().parents[2]


async def _engine_full(store: EmbeddedStore, table: str) -> str:
    (row,) = await store.select(
        "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        {"db": store.database, "t": table},
    )
    return str(row["engine_full"])


async def test_a_single_node_gets_the_retention_of_the_settings(
    embedded_store: EmbeddedStore,
) -> None:
    await apply_retention(embedded_store, log_days=7, rollup_days=30)
    assert "toIntervalDay(7)" in await _engine_full(embedded_store, "postback_attempts")
    assert "toIntervalDay(30)" in await _engine_full(embedded_store, "postback_attempts_by_minute")


def test_only_tables_that_hold_rows_take_a_ttl() -> None:
    assert holds_its_rows("ReplacingMergeTree")
    assert holds_its_rows("ReplicatedSummingMergeTree")
    assert not holds_its_rows("Distributed")


def test_on_a_cluster_retention_is_skipped_with_a_clear_line(tmp_path: Path) -> None:
    # A real Distributed table needs a cluster in chDB's configuration: a child process of its own.
    child = subprocess.run(
        [sys.executable, "-m", "tests.readiness.cluster_child", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=ceiling(300),
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    tables = orjson.loads(child.stdout)
    assert tables["postback_attempts"][0] == "Distributed"
    assert tables["postback_attempts_by_minute"][0] == "Distributed"
    # The local tables keep the TTL of their DDL: the settings' 7 and 30 days were not applied.
    assert "toIntervalDay(90)" in tables["postback_attempts_local"][1]
    assert "toIntervalDay(400)" in tables["postback_attempts_by_minute_local"][1]
    for table in ("postback_attempts", "postback_attempts_by_minute"):
        assert (
            f"retention of {table} not set: it is a Distributed table (a cluster); its TTL is in "
            f"the DDL of {table}_local on each shard"
        ) in child.stderr
