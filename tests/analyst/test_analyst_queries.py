"""The analyst queries of deploy/clickhouse/README.md, read from the README and run against the
real schema (real chDB), with their answers checked against the attempts inserted."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import pytest

from log_writer.storing import Backoff, BatchWriter
from log_writer.validation import check_batch
from postbacks.attempts import AttemptRecord
from postbacks.store.chdb_backend import EmbeddedStore
from tests.attempts import T0, attempt_record, encoded
from tests.log_writer.records import consumed

README = Path(__file__).resolve().parents[2] / "deploy" / "clickhouse" / "README.md"
_QUERY = re.compile(r"^### (?P<title>.+?)\n\n```sql\n(?P<sql>.*?)\n```", re.MULTILINE | re.DOTALL)


def analyst_queries() -> dict[str, str]:
    text = README.read_text()
    section = text.split("\n## Analyst queries\n", 1)[1].split("\n## ", 1)[0]
    return {m["title"]: m["sql"] for m in _QUERY.finditer(section)}


def in_database(sql: str, database: str) -> str:
    return re.sub(r"\bpostbacks\.(?=postback_)", f"{database}.", sql)


def sample() -> list[AttemptRecord]:
    """Five publishers; 42 fails a third of the time, in two ways; 44 is slow."""
    records = []
    for n in range(500):
        publisher = 40 + n % 5
        failed = publisher == 42 and n % 3 == 0
        code = (0 if n % 2 else 502) if failed else 200
        records.append(
            attempt_record(
                n,
                attempted_at=T0 - timedelta(minutes=n % 50),
                publisher_id=publisher,
                status="Failed" if failed else "Success",
                response_code=code,
                error=("connection refused" if code == 0 else "HTTP 502 Bad Gateway")
                if failed
                else "",
                latency_ms=900 + n % 7 if publisher == 44 else 10 + n % 7,
            )
        )
    return records


@pytest.fixture
async def loaded(embedded_store: EmbeddedStore) -> list[AttemptRecord]:
    records = sample()
    await BatchWriter(embedded_store, Backoff()).store(
        check_batch(consumed([encoded(r) for r in records]))
    )
    return records


def test_the_readme_has_the_analyst_queries_the_issue_asks_for() -> None:
    titles = " / ".join(analyst_queries()).lower()
    for wanted in (
        "failure rate by publisher",
        "top failing postbacks",
        "response code mix",
        "slowest publishers",
    ):
        assert wanted in titles


async def test_every_analyst_query_runs_on_the_real_schema(
    embedded_store: EmbeddedStore, loaded: list[AttemptRecord]
) -> None:
    for title, sql in analyst_queries().items():
        rows = await embedded_store.select(in_database(sql, embedded_store.database))
        assert rows, f"{title!r} answered nothing"


async def run(store: EmbeddedStore, title_part: str) -> list[dict[str, object]]:
    [sql] = [q for t, q in analyst_queries().items() if title_part in t.lower()]
    return await store.select(in_database(sql, store.database))


async def test_failure_rates_and_latencies_match_the_attempts(
    embedded_store: EmbeddedStore, loaded: list[AttemptRecord]
) -> None:
    attempts: Counter[int] = Counter(r.publisher_id for r in loaded)
    failures: Counter[int] = Counter(r.publisher_id for r in loaded if r.status == "Failed")
    rates = await run(embedded_store, "failure rate by publisher")
    assert {r["publisher_id"]: (r["total_attempts"], r["total_failures"]) for r in rates} == {
        p: (attempts[p], failures[p]) for p in attempts
    }
    assert rates[0]["publisher_id"] == 42

    latency: dict[int, list[int]] = defaultdict(list)
    for r in loaded:
        latency[r.publisher_id].append(r.latency_ms)
    slowest = await run(embedded_store, "slowest publishers")
    assert slowest[0]["publisher_id"] == 44
    assert slowest[0]["mean_latency_ms"] == round(sum(latency[44]) / len(latency[44]), 1)
    assert slowest[0]["max_latency_ms"] == max(latency[44])

    mix = await run(embedded_store, "response code mix")
    assert sum(int(r["total_attempts"]) for r in mix) == len(loaded)  # type: ignore[call-overload]
    assert {r["response_class"] for r in mix} == {"2xx", "5xx", "none"}

    errors = await run(embedded_store, "one publisher's failures")
    expected = Counter(r.error for r in loaded if r.publisher_id == 42 and r.status == "Failed")
    assert {r["error"]: r["attempts"] for r in errors} == dict(expected)


async def test_every_column_has_a_comment(embedded_store: EmbeddedStore) -> None:
    columns = await embedded_store.select(
        "SELECT table, name, comment FROM system.columns WHERE database = {db:String} "
        "AND table IN ('postback_attempts', 'postback_attempts_by_minute')",
        {"db": embedded_store.database},
    )
    assert len(columns) == 20 + 13  # the log (attempt_number included) and the rollup
    assert [f"{c['table']}.{c['name']}" for c in columns if not c["comment"]] == []
