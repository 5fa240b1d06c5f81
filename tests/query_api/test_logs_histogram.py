"""GET /api/v1/logs/histogram on the real app over chDB: attempts per bucket and status equal what
/api/v1/logs/count counts for the same filters and the bucket's edges, from the rollup or the
log, with a bounded number of buckets, and never outside a token's confinement."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postbacks.attempts import AttemptRecord
from postbacks.store.chdb_backend import EmbeddedStore
from query_api.app import build_app
from query_api.auth import Grant, TokenTable
from query_api.confinement import Confinement
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.failure_stats import ROLLUP_COLUMNS
from query_api.logs.histogram import BUCKET_SIZES, MAX_BUCKETS, MIN_MINUTE_BUCKETS, bucket_seconds
from query_api.logs.reader import format_time
from tests.attempts import attempt_record, insert_attempts
from tests.configs import saved_config

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# Whole hours, so a range can start on a minute edge or between two.
ANCHOR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
ANCHOR_MS = int(ANCHOR.timestamp() * 1000)
# (parameter, column, operator, value): filters both sources can serve and some only the log can.
FILTERS: list[tuple[str, str, str, str | int]] = [
    ("status", "status", "is", "Failed"),
    ("status__is_not", "status", "is_not", "Failed"),
    ("publisher_id", "publisher_id", "is", 42),
    ("publisher_id__is_not", "publisher_id", "is_not", 43),
    ("publisher_id__contains", "publisher_id", "contains", "4"),
    ("offer_id", "offer_id", "is", 7),
    ("response_code__is_not", "response_code", "is_not", 200),
    ("response_code__contains", "response_code", "contains", "0"),
    ("postback_name__contains", "postback_name", "contains", "ALP"),
    ("postback_type", "postback_type", "is", "Event"),
    ("url__contains", "url", "contains", "k1"),
    ("transaction_id__contains", "transaction_id", "contains", "7"),
]


def records(count: int = 700, seed: int = 21) -> list[AttemptRecord]:
    """Attempts over three days after ANCHOR, a third of them in its first two hours."""
    rng = random.Random(seed)
    made = []
    for n in range(count):
        spread = 2 * HOUR_MS if n % 3 == 0 else 3 * DAY_MS
        failed = rng.random() < 0.35
        made.append(
            attempt_record(
                n,
                attempted_at=ANCHOR + timedelta(milliseconds=rng.randrange(spread)),
                status="Failed" if failed else "Success",
                postback_name=rng.choice(["alpha", "Beta", "gamma-alp"]),
                postback_type=rng.choice(["Click", "Conversion", "Event"]),
                offer_id=rng.choice([7, 70]),
                publisher_id=rng.choice([41, 42, 43, 143]),
                response_code=rng.choice([0, 404, 500]) if failed else 200,
                url=f"http://127.0.0.1/pb?k={rng.randrange(30)}",
            )
        )
    return made


def matches(record: AttemptRecord, column: str, operator: str, value: str | int) -> bool:
    held = getattr(record, column)
    if operator == "contains":
        return str(value).lower() in str(held).lower()
    equal = held == value
    return equal if operator == "is" else not equal


def counted(
    loaded: Sequence[AttemptRecord], chosen: Sequence[tuple[str, str, str, str | int]]
) -> dict[tuple[int, str], int]:
    """Attempt times (ms) and statuses of the records the filters select."""
    selected: dict[tuple[int, str], int] = {}
    for r in loaded:
        if all(matches(r, column, op, value) for _, column, op, value in chosen):
            key = (int(r.attempted_at.timestamp() * 1000), r.status)
            selected[key] = selected.get(key, 0) + 1
    return selected


def parse_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


async def histogram(api: httpx.AsyncClient, params: Any, **headers: str) -> dict[str, Any]:
    answer = await api.get("/api/v1/logs/histogram", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def count(api: httpx.AsyncClient, params: list[tuple[str, str]], start: int, end: int) -> int:
    edges = [("from", format_time(start)), ("to", format_time(end))]
    answer = await api.get("/api/v1/logs/count", params=[*params, *edges])
    assert answer.status_code == 200, answer.text
    result: int = answer.json()["count"]
    return result


@pytest.fixture
async def loaded(embedded_store: EmbeddedStore) -> list[AttemptRecord]:
    made = records()
    await insert_attempts(embedded_store, made)
    return made


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    chosen=st.lists(st.sampled_from(FILTERS), max_size=3, unique=True),
    start=st.integers(-HOUR_MS, 3 * DAY_MS),
    span=st.one_of(st.integers(1000, 2 * HOUR_MS), st.integers(2 * HOUR_MS, 8 * DAY_MS)),
    on_minutes=st.booleans(),
)
async def test_each_bucket_counts_what_the_log_count_counts(
    api: httpx.AsyncClient,
    loaded: list[AttemptRecord],
    chosen: list[tuple[str, str, str, str | int]],
    start: int,
    span: int,
    on_minutes: bool,
) -> None:
    from_ms = ANCHOR_MS + start
    to_ms = from_ms + span
    if on_minutes:
        from_ms, to_ms = from_ms - from_ms % 60_000, to_ms - to_ms % 60_000 + 60_000
    params = [(key, str(value)) for key, _, _, value in chosen]
    answer = await histogram(
        api, [*params, ("from", format_time(from_ms)), ("to", format_time(to_ms))]
    )

    size = answer["bucket_seconds"] * 1000
    assert answer["bucket_seconds"] == bucket_seconds(from_ms, to_ms)
    rollup = size % 60_000 == 0 and {c for _, c, _, _ in chosen} <= set(ROLLUP_COLUMNS)
    assert answer["source"] == ("rollup" if rollup else "log")
    first, end = parse_ms(answer["from"]), parse_ms(answer["to"])
    if rollup:  # out to the minutes around the range
        assert (first, end) == (from_ms - from_ms % 60_000, -(-to_ms // 60_000) * 60_000)
    else:
        assert (first, end) == (from_ms, to_ms)
    assert -(-end // size) - first // size <= MAX_BUCKETS

    expected: dict[tuple[int, str], int] = {}
    for (at, status), n in counted(loaded, chosen).items():
        if first <= at < end:
            key = (at - at % size, status)
            expected[key] = expected.get(key, 0) + n
    items = answer["items"]
    got = {(parse_ms(i["bucket"]), i["status"]): i["attempts"] for i in items}
    assert got == expected
    assert [(parse_ms(i["bucket"]), i["status"]) for i in items] == sorted(got)

    # The same numbers from /count: the whole range, and the first and last bucket cut at it.
    assert sum(got.values()) == await count(api, params, first, end)
    buckets = sorted({bucket for bucket, _ in got})
    for bucket in {buckets[0], buckets[-1]} if buckets else set():
        in_bucket = sum(n for (b, _), n in got.items() if b == bucket)
        edges = max(bucket, first), min(bucket + size, end)
        assert in_bucket == await count(api, params, *edges)


async def test_the_rollup_and_the_log_give_the_same_bars(
    api: httpx.AsyncClient, loaded: list[AttemptRecord]
) -> None:
    window = [("from", format_time(ANCHOR_MS)), ("to", format_time(ANCHOR_MS + DAY_MS))]
    rolled = await histogram(api, [("publisher_id", "42"), *window])
    # Every URL contains "http": the same attempts, but only the log keeps the url.
    logged = await histogram(api, [*window, ("publisher_id", "42"), ("url__contains", "HTTP")])
    assert (rolled["source"], logged["source"]) == ("rollup", "log")
    assert rolled["bucket_seconds"] == logged["bucket_seconds"] == 900
    assert rolled["items"] == logged["items"]
    assert sum(i["attempts"] for i in rolled["items"]) == sum(
        r.publisher_id == 42 and r.attempted_at < ANCHOR + timedelta(days=1) for r in loaded
    )
    assert {i["status"] for i in rolled["items"]} == {"Success", "Failed"}


async def test_without_from_it_covers_the_default_window_to_now(
    api: httpx.AsyncClient, embedded_store: EmbeddedStore
) -> None:
    now = datetime.now(UTC)
    recent = [attempt_record(n, attempted_at=now - timedelta(minutes=n * 7)) for n in range(40)]
    await insert_attempts(embedded_store, recent)
    answer = await histogram(api, {})
    assert (answer["source"], answer["bucket_seconds"]) == ("rollup", 900)
    first, end = parse_ms(answer["from"]), parse_ms(answer["to"])
    assert end % 60_000 == first % 60_000 == 0
    assert DAY_MS <= end - first <= DAY_MS + 120_000  # out to the minutes around both
    assert abs(end - now.timestamp() * 1000) <= 120_000
    in_window = sum(first <= r.attempted_at.timestamp() * 1000 < end for r in recent)
    assert sum(i["attempts"] for i in answer["items"]) == in_window


@pytest.mark.parametrize("refused", ["limit", "cursor"])
async def test_limit_and_cursor_are_refused_by_name(api: httpx.AsyncClient, refused: str) -> None:
    answer = await api.get("/api/v1/logs/histogram", params={refused: "5", "status": "Failed"})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "bad_request"
    assert f"'{refused}' does not apply to /api/v1/logs/histogram" in error["message"]


async def test_a_bad_filter_is_refused_naming_it(api: httpx.AsyncClient) -> None:
    answer = await api.get("/api/v1/logs/histogram", params={"publisher": "42"})
    assert answer.status_code == 400
    assert "did you mean 'publisher_id'" in answer.json()["error"]["message"]


def test_the_bucket_size_bounds_the_buckets() -> None:
    spans = [1, 999, 1000, 59_000, 20 * 60_000, 3 * HOUR_MS, DAY_MS, 7 * DAY_MS, 31 * DAY_MS]
    spans += [400 * DAY_MS, 3000 * DAY_MS]
    for span in spans:
        for start in (0, 17, 59_999, 1_796_000_123_456, -2_000_000_000_001):
            seconds = bucket_seconds(start, start + span)
            size = seconds * 1000
            assert seconds in BUCKET_SIZES or seconds % 86_400 == 0, (span, seconds)
            assert -(-(start + span) // size) - start // size <= MAX_BUCKETS, (span, start)
            if span >= MIN_MINUTE_BUCKETS * 60_000:
                assert seconds >= 60, span  # whole minutes: the rollup can answer
    # The page's presets and a click's narrowing.
    assert bucket_seconds(0, HOUR_MS) == 60
    assert bucket_seconds(0, DAY_MS) == 900
    assert bucket_seconds(0, 7 * DAY_MS) == 3 * 3600
    assert bucket_seconds(0, 31 * DAY_MS) == 6 * 3600
    assert bucket_seconds(0, 15 * 60_000) == 15
    assert bucket_seconds(0, 60_000) == 1


@pytest.fixture
async def confined_api(
    embedded_store: EmbeddedStore, publisher: DispatcherPublisher
) -> AsyncIterator[httpx.AsyncClient]:
    tokens = TokenTable(
        {"tok": Grant(frozenset({"logs:read"}), Confinement(publisher_ids=frozenset({42})))}
    )
    app = build_app(embedded_store, publisher, tokens=tokens)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={"Authorization": "Bearer tok"}
    ) as client:
        yield client


@pytest.mark.parametrize("log_only", [False, True])
async def test_a_confined_token_never_counts_another_publishers_attempts(
    confined_api: httpx.AsyncClient, embedded_store: EmbeddedStore, log_only: bool
) -> None:
    # Each publisher's attempts through its own configuration: a confined token sees only
    # those of its publishers' configurations.
    configs = {p: await saved_config(embedded_store, p) for p in (42, 43)}
    made = [
        attempt_record(
            n,
            attempted_at=ANCHOR + timedelta(minutes=n),
            publisher_id=42 + n % 2,
            postback_id=configs[42 + n % 2],
        )
        for n in range(60)
    ]
    await insert_attempts(embedded_store, made)
    window = [("from", format_time(ANCHOR_MS)), ("to", format_time(ANCHOR_MS + HOUR_MS))]
    extra = [("url__contains", "http")] if log_only else []
    mine = await histogram(confined_api, [*window, *extra])
    assert mine["source"] == ("log" if log_only else "rollup")
    assert sum(i["attempts"] for i in mine["items"]) == 30  # publisher 42's only
    theirs = await histogram(confined_api, [*window, *extra, ("publisher_id", "43")])
    assert theirs["items"] == []
    either = await histogram(confined_api, [*window, *extra, ("publisher_id__is_not", "42")])
    assert either["items"] == []
