"""The limits log queries run under, through the served API on real chDB and the embedded broker:
the default window, the widest span, ClickHouse's own limits (also through the server backend,
over the HTTP front to chDB), and the concurrency cap."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from postbacks.store import Store, StoreQueryError
from postbacks.store.chdb_backend import EmbeddedStore
from postbacks.store.server_backend import ServerStore
from query_api.app import build_app
from query_api.dependencies import services_of
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.errors import ApiError, Busy, QueryTooLarge, QueryTooSlow
from query_api.guardrails import GuardedStore, QueryLimits
from query_api.logs.reader import TABLE, format_time
from query_api.settings import QueryApiSettings
from tests.attempts import attempt_record, insert_attempts
from tests.store.clickhouse_http_front import ClickHouseHttpFront

HOUR = timedelta(hours=1)


async def insert_at(store: EmbeddedStore, times: Sequence[datetime], name: str = "") -> None:
    """One attempt at each of `times`, all named `name` (a fresh name when empty)."""
    name = name or uuid.uuid4().hex
    records = [
        attempt_record(
            attempted_at=at, status="Failed", postback_id=uuid.uuid4(),
            postback_name=name, postback_type="Conversion", offer_id=1, publisher_id=1,
            transaction_id=f"tx-{n}", response_code=500, url="http://127.0.0.1/pb",
            latency_ms=1, source="{}",
        )
        for n, at in enumerate(times)
    ]  # fmt: skip
    await insert_attempts(store, records)


Serve = Callable[[QueryLimits], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def serve(embedded_store: EmbeddedStore, publisher: DispatcherPublisher) -> Serve:
    """A client of the API built with the given limits."""

    @contextlib.asynccontextmanager
    async def client(limits: QueryLimits) -> AsyncIterator[httpx.AsyncClient]:
        app = build_app(embedded_store, publisher, tokens=None, limits=limits)
        async with client_of(app) as api:
            yield api

    return client


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


@pytest.fixture
async def api(serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(QueryLimits()) as client:
        yield client


def error_of(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()["error"]
    return body


def iso(at: datetime) -> str:
    return format_time(int(at.timestamp() * 1000))


async def listed(api: httpx.AsyncClient, **params: str) -> list[str]:
    answer = await api.get("/api/v1/logs", params=params)
    assert answer.status_code == 200, answer.text
    return [item["transaction_id"] for item in answer.json()["items"]]


async def test_without_from_the_log_covers_the_last_24_hours(
    api: httpx.AsyncClient, embedded_store: EmbeddedStore
) -> None:
    now = datetime.now(UTC)
    # tx-0: 25 hours ago; tx-1: a minute ago; tx-2: 50 hours ago.
    times = [now - 25 * HOUR, now - timedelta(minutes=1), now - 50 * HOUR]
    await insert_at(embedded_store, times, name="window")
    assert await listed(api, postback_name="window") == ["tx-1"]
    count = await api.get("/api/v1/logs/count", params={"postback_name": "window"})
    assert count.json() == {"count": 1}
    export = await api.get("/api/v1/logs/export.csv", params={"postback_name": "window"})
    assert "tx-1" in export.text
    assert "tx-0" not in export.text
    # Without `from`, the window ends at `to`: 24 hours before it.
    assert await listed(api, postback_name="window", to=iso(now - 24 * HOUR)) == ["tx-0"]
    # An explicit `from` is taken as it is.
    assert await listed(api, postback_name="window", **{"from": iso(now - 51 * HOUR)}) == [
        "tx-1",
        "tx-0",
        "tx-2",
    ]


async def test_the_window_is_a_setting(serve: Serve, embedded_store: EmbeddedStore) -> None:
    now = datetime.now(UTC)
    await insert_at(embedded_store, [now - 25 * HOUR, now - 3 * HOUR], name="hours")
    async with serve(QueryLimits(default_window=2 * HOUR)) as api:
        assert await listed(api, postback_name="hours") == []
    async with serve(QueryLimits(default_window=26 * HOUR)) as api:
        assert await listed(api, postback_name="hours") == ["tx-1", "tx-0"]


@pytest.mark.parametrize("path", ["/api/v1/logs", "/api/v1/logs/count", "/api/v1/logs/export.csv"])
async def test_a_span_over_the_maximum_is_refused_saying_what_to_change(
    api: httpx.AsyncClient, path: str
) -> None:
    now = datetime.now(UTC)
    wide = {"from": iso(now - timedelta(days=40)), "to": iso(now - timedelta(days=8))}
    message = error_of(await api.get(path, params=wide), 400)["message"]
    assert "covers 32.0 days" in message
    assert "at most 31 days" in message
    assert "later 'from' or an earlier 'to'" in message
    until_now = error_of(await api.get(path, params={"from": wide["from"]}), 400)["message"]
    assert "'from' to now covers 40.0 days" in until_now
    within = {"from": iso(now - timedelta(days=30)), "to": iso(now)}
    assert (await api.get(path, params=within)).status_code == 200


async def test_bad_bounds_are_still_named_by_the_route(api: httpx.AsyncClient) -> None:
    for params, named in [({"to": "yesterday"}, "'to'"), ({"from": "x", "to": "y"}, "'from'")]:
        assert named in error_of(await api.get("/api/v1/logs", params=params), 400)["message"]
    repeated = await api.get("/api/v1/logs?to=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z")
    assert "more than once" in error_of(repeated, 400)["message"]


async def test_too_many_rows_is_a_400_that_says_to_narrow_the_query(
    serve: Serve, embedded_store: EmbeddedStore
) -> None:
    await insert_at(embedded_store, [datetime.now(UTC)] * 5)
    async with serve(QueryLimits(max_rows_to_read=2)) as api:
        for path in ("/api/v1/logs", "/api/v1/logs/count", "/api/v1/logs/export.csv"):
            # A filter, so that the count has rows to read (an unfiltered count() is answered
            # from the parts' row counts and reads none).
            error = error_of(await api.get(path, params={"status": "Failed"}), 400)
            assert error["code"] == "query_too_large"
            assert "more than 2 rows" in error["message"]
            assert "narrow the time range" in error["message"]


async def test_one_attempt_by_id_is_found_past_the_row_limit(
    serve: Serve, embedded_store: EmbeddedStore
) -> None:
    # Finding one attempt reads the attempt_id column of the whole table; no narrower time
    # range could help it, so the row limit (and its advice to narrow) does not apply.
    await insert_at(embedded_store, [datetime.now(UTC)] * 5)
    rows = await embedded_store.select(f"SELECT attempt_id FROM {embedded_store.table(TABLE)}")
    async with serve(QueryLimits(max_rows_to_read=2)) as api:
        error_of(await api.get("/api/v1/logs"), 400)
        answer = await api.get(f"/api/v1/logs/{rows[0]['attempt_id']}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["attempt_id"] == rows[0]["attempt_id"]


@pytest.fixture(scope="module")
def clickhouse_front(chdb_dir: Path) -> Iterator[ClickHouseHttpFront]:
    front = ClickHouseHttpFront(chdb_dir)
    front.start()
    yield front
    front.stop()


@pytest.fixture(params=["embedded", "server-via-front"])
async def backend(
    request: pytest.FixtureRequest, embedded_store: EmbeddedStore
) -> AsyncIterator[Store]:
    """The test's database through each backend (the server one over HTTP to chDB)."""
    if request.param == "embedded":
        yield embedded_store
        return
    front: ClickHouseHttpFront = request.getfixturevalue("clickhouse_front")
    server = ServerStore(host=front.host, port=front.port, database=embedded_store.database)
    yield server
    await server.close()


BIG = "SELECT count() AS n FROM numbers(1000000000000)"


@pytest.mark.parametrize(
    ("limits", "error", "status", "says"),
    [
        (QueryLimits(max_rows_to_read=10), QueryTooLarge, 400, "more than 10 rows"),
        (QueryLimits(max_query_seconds=1, max_rows_to_read=10**15), QueryTooSlow, 503, "1 s"),
    ],
)
async def test_clickhouse_limits_become_api_errors_on_every_backend(
    backend: Store, limits: QueryLimits, error: type[ApiError], status: int, says: str
) -> None:
    started = time.monotonic()
    with pytest.raises(error) as caught:
        await GuardedStore(backend, limits).select(BIG)
    assert time.monotonic() - started < 10
    assert caught.value.status == status
    assert says in caught.value.message
    assert "narrow the time range" in caught.value.message
    # Other refusals stay what they were.
    with pytest.raises(StoreQueryError):
        await GuardedStore(backend, limits).select("SELECT no_such_column")


async def test_all_slots_taken_is_a_503_with_retry_after(
    embedded_store: EmbeddedStore, publisher: DispatcherPublisher
) -> None:
    limits = QueryLimits(max_concurrent_queries=2, queue_wait_seconds=0.05)
    app = build_app(embedded_store, publisher, tokens=None, limits=limits)
    slots = services_of(app).log_store.slots
    async with client_of(app) as api:
        await slots.acquire()
        await slots.acquire()
        try:
            answer = await api.get("/api/v1/logs")
            error = error_of(answer, 503)
            assert error["code"] == "busy"
            assert "already running 2 log queries" in error["message"]
            assert answer.headers["Retry-After"] == "1"
            slots.release()
            assert (await api.get("/api/v1/logs")).status_code == 200
        finally:
            slots.release()
        assert (await api.get("/api/v1/logs")).status_code == 200


async def test_an_abandoned_query_keeps_its_slot_until_clickhouse_is_done(
    embedded_store: EmbeddedStore,
) -> None:
    limits = QueryLimits(
        max_concurrent_queries=1,
        queue_wait_seconds=0.05,
        max_query_seconds=1,
        max_rows_to_read=10**15,
    )
    guarded = GuardedStore(embedded_store, limits)
    slow = asyncio.create_task(guarded.select("SELECT count() AS n FROM numbers(1000000000000)"))
    await asyncio.sleep(0.2)
    slow.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await slow
    with pytest.raises(Busy):  # the cancelled request's query still runs in its thread
        await guarded.select("SELECT 1 AS n")
    for _ in range(100):  # ClickHouse stops it at max_execution_time, which frees the slot
        with contextlib.suppress(Busy):
            assert await guarded.select("SELECT 1 AS n") == [{"n": 1}]
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the slot was never freed")


def test_the_settings_default_to_the_limits_and_keep_the_window_within_the_span() -> None:
    assert QueryApiSettings().query_limits == QueryLimits()
    assert QueryLimits().default_window == 24 * HOUR
    assert QueryLimits().max_span == timedelta(days=31)
    for hours in (744, 800):  # 31 days and more
        with pytest.raises(ValueError, match=f"longer than the default window of {hours} hours"):
            QueryApiSettings(api_default_window_hours=hours, api_max_span_days=31)
    assert QueryApiSettings(api_default_window_hours=743).query_limits.default_window == 743 * HOUR


async def test_stats_read_through_the_same_limits(
    serve: Serve, embedded_store: EmbeddedStore
) -> None:
    for _ in range(2):  # two inserts: two rows in the rollup until a merge
        await insert_at(embedded_store, [datetime.now(UTC)])
    async with serve(QueryLimits()) as api:
        assert (await api.get("/api/v1/stats/failure-rate")).status_code == 200
    async with serve(QueryLimits(max_rows_to_read=1)) as api:
        error = error_of(await api.get("/api/v1/stats/failure-rate"), 400)
        assert error["code"] == "query_too_large"
