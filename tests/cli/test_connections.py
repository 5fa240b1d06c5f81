"""Production commands refuse to start without an explicit Kafka and ClickHouse (issue 19)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postbacks.settings import CommonSettings
from postbacks_cli.connections import require_explicit_connections
from postbacks_cli.main import app as cli

UNSET = {
    "POSTBACKS_KAFKA_BOOTSTRAP": None,
    "CLICKHOUSE_URL": None,
    "POSTBACKS_CLICKHOUSE_URL": None,
}
TOKENS = '{"t": ["logs:read"]}'


@pytest.mark.parametrize(
    ("command", "env", "named", "not_named"),
    [
        ("dispatcher", {}, ["POSTBACKS_KAFKA_BOOTSTRAP"], ["CLICKHOUSE_URL"]),
        ("log-writer", {}, ["POSTBACKS_KAFKA_BOOTSTRAP", "CLICKHOUSE_URL"], []),
        (
            "log-writer",
            {"POSTBACKS_KAFKA_BOOTSTRAP": "kafka:9092"},
            ["CLICKHOUSE_URL"],
            ["POSTBACKS_KAFKA_BOOTSTRAP"],
        ),
        (
            "query-api",
            {"CLICKHOUSE_URL": "http://clickhouse:8123", "POSTBACKS_API_TOKENS": TOKENS},
            ["POSTBACKS_KAFKA_BOOTSTRAP"],
            ["CLICKHOUSE_URL"],
        ),
    ],
)
def test_a_service_without_its_connections_refuses_naming_them(
    command: str, env: dict[str, str], named: list[str], not_named: list[str]
) -> None:
    result = CliRunner().invoke(cli, [command], env={**UNSET, **env, "COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    refusal = result.stderr
    assert refusal.startswith("refusing to start:"), refusal
    for setting in named:
        assert f"{setting} (" in refusal
    for setting in not_named:
        assert f"{setting} (" not in refusal
    assert "--embedded" in refusal


def _settings(**values: object) -> CommonSettings:
    return CommonSettings.model_validate(values)


def test_embedded_runs_on_the_defaults_with_a_warning(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    with caplog.at_level(logging.WARNING):
        require_explicit_connections(
            _settings(embedded=True, kafka_port=19092, data_dir=tmp_path), store=True
        )
    assert "127.0.0.1:19092" in caplog.text
    assert str(tmp_path / "clickhouse") in caplog.text


def test_explicit_connections_start_without_a_word(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        require_explicit_connections(
            _settings(kafka_bootstrap="kafka:9092", clickhouse_url="http://ch:8123"), store=True
        )
        require_explicit_connections(_settings(kafka_bootstrap="kafka:9092"), store=False)
    assert caplog.text == ""
