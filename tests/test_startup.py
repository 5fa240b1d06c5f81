"""Waiting at start for a dependency that is not up, refusing one that is misconfigured."""

from __future__ import annotations

import logging

import pytest
import typer
from prometheus_client import REGISTRY

from postbacks.startup import Misconfigured, wait_for
from postbacks_cli.lifecycle import run_until_signalled


def _refusal(error: Exception) -> str | None:
    return "the password was refused" if isinstance(error, PermissionError) else None


async def test_waits_with_growing_delays_until_the_dependency_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes: list[Exception | str] = [ConnectionRefusedError("refused"), TimeoutError(), "up"]
    calls = 0

    async def probe() -> str:
        nonlocal calls
        outcome = outcomes[calls]
        calls += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with caplog.at_level(logging.WARNING):
        answer = await wait_for(
            "Kafka at k:9092",
            probe,
            setting="POSTBACKS_KAFKA_BOOTSTRAP",
            refusal=_refusal,
            first_delay_s=0.01,
        )
    assert answer == "up"
    assert calls == 3
    waits = [r.getMessage() for r in caplog.records]
    assert len(waits) == 2
    assert all("waiting for Kafka at k:9092 (POSTBACKS_KAFKA_BOOTSTRAP)" in w for w in waits)
    assert "refused; trying again in 0.0 s" in waits[0]
    assert "TimeoutError" in waits[1]


async def test_a_refusal_is_not_retried_and_names_the_setting() -> None:
    calls = 0

    async def probe() -> None:
        nonlocal calls
        calls += 1
        raise PermissionError("SASL authentication failed")

    with pytest.raises(Misconfigured) as refused:
        await wait_for("Kafka", probe, setting="POSTBACKS_KAFKA_SASL_PASSWORD", refusal=_refusal)
    assert calls == 1
    assert str(refused.value) == "the password was refused; check POSTBACKS_KAFKA_SASL_PASSWORD"


def _waiting(dependency: str) -> float | None:
    return REGISTRY.get_sample_value("postbacks_startup_waiting", {"dependency": dependency})


async def test_the_waiting_gauge_is_1_while_waiting_and_0_once_answered_or_refused() -> None:
    seen: list[float | None] = []

    async def probe() -> str:
        seen.append(_waiting("clickhouse"))
        if len(seen) < 3:
            raise ConnectionRefusedError("refused")
        return "up"

    where = "ClickHouse at https://ch:8443/"
    await wait_for(where, probe, setting="CLICKHOUSE_URL", refusal=_refusal, first_delay_s=0.01)
    assert seen[1:] == [1, 1]  # waiting from the first failure on
    assert _waiting("clickhouse") == 0

    async def refused() -> None:
        if _waiting("kafka") == 1:
            raise PermissionError("SASL authentication failed")
        raise TimeoutError

    with pytest.raises(Misconfigured):
        await wait_for(
            "Kafka (librdkafka)", refused, setting="B", refusal=_refusal, first_delay_s=0.01
        )
    assert _waiting("kafka") == 0


def test_a_refusal_at_start_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    async def service() -> None:
        raise Misconfigured("CLICKHOUSE_URL", "authentication failed")

    with pytest.raises(typer.Exit) as exited:
        run_until_signalled(service(), "log-writer")
    assert exited.value.exit_code == 2
    assert capsys.readouterr().err == (
        "log-writer refusing to start: authentication failed; check CLICKHOUSE_URL\n"
    )
