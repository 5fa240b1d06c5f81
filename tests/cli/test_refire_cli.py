"""`postbacks refire` against the whole running system (embedded broker, dispatcher, log-writer,
chDB, query-api on a loopback port, a local publisher): dry-run summary, confirmation, the job
followed to the end."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from typer.testing import CliRunner, Result

from postbacks_cli.main import app as cli
from postbacks_cli.refire import RefireFailed, parse_moment, selection
from tests.attempts import attempt_record, insert_attempts
from tests.e2e.receivers import Receiver, receiver
from tests.e2e.system import System

PUBLISHER = 7707
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def healthy() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


async def seed_failures(system: System, url: str) -> None:
    """Failed attempts of a configuration that has since been fixed (it now calls `url`)."""
    config = await system.create_postback(
        name="CLI refire", type="Conversion", publisher_id=PUBLISHER, url=url
    )
    at = datetime.now(UTC) - timedelta(minutes=10)
    records = []
    for n, tx in enumerate(["cli-1", "cli-2", "cli-1"]):  # cli-1 failed twice: one pair
        source = {"transaction_id": tx, "offer_id": 3, "publisher_id": PUBLISHER}
        record = attempt_record(
            attempted_at=at + timedelta(seconds=n),
            status="Failed",
            postback_id=config["id"],
            postback_name="CLI refire",
            postback_type="Conversion",
            offer_id=3,
            publisher_id=PUBLISHER,
            transaction_id=tx,
            response_code=500,
            url=f"http://127.0.0.1:9/broken?tx={tx}",
            latency_ms=1,
            source=orjson.dumps(source).decode(),
        )
        records.append(record)
    await insert_attempts(system.store, records)


async def invoke(args: list[str], answer: str = "") -> Result:
    return await asyncio.to_thread(
        CliRunner().invoke, cli, ["refire", *args], input=answer, env={"COLUMNS": "200"}
    )


async def test_dry_run_confirm_and_progress_to_the_end(system: System, healthy: Receiver) -> None:
    await seed_failures(system, healthy.url("/ok?tx={transaction_id}"))
    api = str(system.api.base_url).rstrip("/")
    args = ["--status", "Failed", "--publisher-id", str(PUBLISHER), "--since", "1h", "--api", api]

    declined = await invoke(args, answer="n\n")
    assert declined.exit_code == 0, declined.output
    assert (
        "2 (transaction, postback) pairs match status=Failed publisher_id=7707" in declined.output
    )
    assert "Nothing was fired." in declined.output
    assert (await system.api.get("/api/v1/refires")).json()["items"] == []

    done = await invoke([*args, "--yes"])
    assert done.exit_code == 0, done.output
    assert "Re-fire done: 2 fired, 2 succeeded, 0 failed, 0 skipped" in done.output
    assert sorted(r.path for r in healthy.requests) == ["/ok?tx=cli-1", "/ok?tx=cli-2"]

    again = await invoke([*args, "--yes"])
    assert again.exit_code == 0, again.output
    assert "Nothing to re-fire" in again.output


async def test_refusals_say_what_to_fix(system: System) -> None:
    api = str(system.api.base_url).rstrip("/")
    bad_filter = await invoke(["--filter", "oops", "--api", api])
    assert bad_filter.exit_code == 1
    assert "--filter 'oops' must be COLUMN=VALUE" in bad_filter.output
    unknown = await invoke(["--filter", "publisher=1", "--api", api, "--yes"])
    assert unknown.exit_code == 1
    assert "did you mean 'publisher_id'" in unknown.output


def test_since_and_until_take_durations_or_times() -> None:
    assert parse_moment("--since", "2h", NOW) == "2026-11-28T10:00:00.000Z"
    assert parse_moment("--since", "1h30m", NOW) == "2026-11-28T10:30:00.000Z"
    assert parse_moment("--until", "2026-11-28T11:00:00+01:00", NOW) == "2026-11-28T10:00:00.000Z"
    with pytest.raises(RefireFailed, match="neither a duration"):
        parse_moment("--since", "yesterday", NOW)
    pairs = selection({"status": ["Failed"]}, ["url__contains=acme", "error="], None, None)
    assert pairs == [("status", "Failed"), ("url__contains", "acme"), ("error", "")]
