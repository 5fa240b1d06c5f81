"""What can be checked of the production files without Docker: they parse, agree with code."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.main import get_command

from postbacks.store.chdb_backend import EmbeddedStore
from postbacks.store.schema import SCHEMA_DIR, schema_statements
from postbacks_cli.main import app

ROOT = Path(__file__).resolve().parents[1]


def test_compose_file_parses_and_its_commands_exist() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "clickhouse", "dispatcher", "log-writer", "query-api"} <= set(services)
    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    for name in ("dispatcher", "log-writer", "query-api"):
        assert services[name]["command"][0] in commands
        env = services[name]["environment"]
        assert env["POSTBACKS_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["CLICKHOUSE_URL"].startswith("http://")
    mount = services["clickhouse"]["volumes"][1].split(":")
    assert (ROOT / mount[0]).resolve() == SCHEMA_DIR
    assert (ROOT / services["dispatcher"]["build"]["dockerfile"]).is_file()


async def test_the_sql_compose_loads_runs_on_chdb(embedded_store: EmbeddedStore) -> None:
    # The fixture applied deploy/clickhouse/ already; applying again must be a no-op.
    for statement in schema_statements(embedded_store.database):
        await embedded_store.execute(statement)
    tables = await embedded_store.select(
        "SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name",
        {"db": embedded_store.database},
    )
    assert [t["name"] for t in tables] == [
        "postback_attempts",
        "postback_attempts_by_minute",
        "postback_attempts_by_minute_mv",
        "postback_configs",
    ]
