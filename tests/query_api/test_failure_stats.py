"""Failure rates from the rollup, checked against counts computed from the inserted attempts."""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from postbacks.attempts import AttemptRecord
from postbacks.store.chdb_backend import EmbeddedStore
from query_api.failure_stats import failure_rates, parse_stats_query
from query_api.logs.filters import InvalidLogQuery
from tests.attempts import attempt_record, insert_attempts

POSTBACKS = [(uuid.uuid4(), f"pb-{i}") for i in range(3)]


def attempts(now: datetime, count: int = 600) -> list[AttemptRecord]:
    rng = random.Random(7)
    records = []
    for n in range(count):
        postback_id, name = rng.choice(POSTBACKS)
        failed = rng.random() < 0.3
        records.append(attempt_record(
            attempted_at=now - timedelta(minutes=rng.randrange(0, 180), seconds=rng.random()),
            status="Failed" if failed else "Success",
            postback_id=postback_id, postback_name=name, postback_type="Conversion",
            offer_id=rng.choice([10, 20]), publisher_id=rng.choice([1, 2, 3]),
            transaction_id=f"tx-{n}", response_code=rng.choice([0, 500]) if failed else 200,
            url="http://127.0.0.1/", latency_ms=rng.randrange(1, 100), source="{}",
        ))  # fmt: skip
    return records


def hour_of(t: datetime) -> str:
    return t.replace(minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture
async def loaded(embedded_store: EmbeddedStore) -> list[AttemptRecord]:
    records = attempts(datetime.now(UTC))
    await insert_attempts(embedded_store, records)
    return records


async def stats(store: EmbeddedStore, query: str) -> list[dict[str, object]]:
    pairs = [tuple(p.split("=", 1)) for p in query.split("&") if p]
    return await failure_rates(store, parse_stats_query(pairs))  # type: ignore[arg-type]


async def test_failure_rate_by_publisher_per_hour_matches_the_log(
    embedded_store: EmbeddedStore, loaded: list[AttemptRecord]
) -> None:
    expected: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    for r in loaded:
        expected[(hour_of(r.attempted_at), r.publisher_id)][r.status] += 1
    items = await stats(embedded_store, "group_by=publisher&bucket=hour")
    got = {(str(i["bucket"])[:19], i["publisher_id"]): i for i in items}
    assert set(got) == set(expected)
    for key, counts in expected.items():
        attempts_total = counts["Success"] + counts["Failed"]
        assert got[key]["attempts"] == attempts_total
        assert got[key]["failures"] == counts["Failed"]
        assert got[key]["failure_rate"] == round(counts["Failed"] / attempts_total, 6)
    buckets = [str(i["bucket"]) for i in items]
    assert buckets == sorted(buckets)


@pytest.mark.parametrize(
    ("group_by", "column"),
    [("offer", "offer_id"), ("response_code", "response_code"), ("postback", "postback_id")],
)
async def test_each_grouping_totals_every_attempt(
    embedded_store: EmbeddedStore, loaded: list[AttemptRecord], group_by: str, column: str
) -> None:
    items = await stats(embedded_store, f"group_by={group_by}&bucket=day")
    totals: Counter[str] = Counter()
    for i in items:
        totals[str(i[column])] += int(i["attempts"])  # type: ignore[call-overload]
    expected = Counter(str(getattr(r, column)) for r in loaded)
    assert totals == expected
    if group_by == "postback":
        names = {str(i["postback_id"]): i["postback_name"] for i in items}
        assert names == {str(p): n for p, n in POSTBACKS}


async def test_filters_apply_to_stats(
    embedded_store: EmbeddedStore, loaded: list[AttemptRecord]
) -> None:
    items = await stats(
        embedded_store, "group_by=publisher&bucket=day&publisher_id=2&response_code__is_not=0"
    )
    assert {i["publisher_id"] for i in items} == {2}
    expected = [r for r in loaded if r.publisher_id == 2 and r.response_code != 0]
    assert sum(int(i["attempts"]) for i in items) == len(expected)  # type: ignore[call-overload]
    assert sum(int(i["failures"]) for i in items) == sum(  # type: ignore[call-overload]
        r.status == "Failed" for r in expected
    )


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("group_by=country", "group_by"),
        ("bucket=week", "bucket"),
        ("url__contains=x", "url"),
        ("limit=5", "limit"),
        ("bucket=minute&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z", "bucket"),
        ("stauts=Failed", "stauts"),
    ],
)
def test_bad_stats_queries_name_what_to_change(query: str, named: str) -> None:
    pairs = [tuple(p.split("=", 1)) for p in query.split("&")]
    with pytest.raises(InvalidLogQuery, match=named):
        parse_stats_query(pairs)  # type: ignore[arg-type]
