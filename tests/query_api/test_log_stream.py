"""The live view, GET /api/v1/logs/stream: the real app served by uvicorn on loopback over chDB,
read as a client reads it (httpx streaming; ASGITransport would buffer the endless body).

Rows are written straight into the log with times of now, after the streams are open, as the
log-writer would write them; tests/e2e/test_live_stream.py runs the whole pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postbacks.attempts import AttemptRecord
from postbacks.embedded_broker import free_port
from postbacks.kafka_connection import KafkaConnection
from postbacks.store import Params, Row, StoreQueryError
from postbacks.store.chdb_backend import EmbeddedStore
from postbacks.store.protocol import QuerySettings
from postbacks_cli.api_docs import NoStore
from query_api.app import build_app
from query_api.auth import Grant, TokenTable
from query_api.config_repository import ConfigRepository
from query_api.confinement import Confinement
from query_api.dependencies import services_of
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.live import wire
from query_api.live.limits import StreamLimits
from query_api.live.positions import before
from query_api.live.watcher import Delivery, Watcher
from query_api.logs.cursor import CursorPosition, decode_cursor, encode_cursor
from query_api.logs.filters import FILTERABLE_COLUMNS
from query_api.service import QueryApi
from query_api.settings import QueryApiSettings
from tests.attempts import attempt_record, clickhouse_order, insert_attempts
from tests.configs import saved_config
from tests.serving import served, wait_healthy
from tests.sse_client import Event, event_stream
from tests.waiting import until

PATH = "/api/v1/logs/stream"
FAST = StreamLimits(interval_seconds=0.1)
# Long enough for a read to have come and gone: what has not arrived by then is not coming.
SETTLE_S = 0.3


class CountingStore(EmbeddedStore):
    """The real store, with its reads for the live view counted, and made to fail on demand."""

    def __init__(self, data_dir: Path, database: str) -> None:
        super().__init__(data_dir, database)
        self.polls = 0
        self.failing = False

    async def select(
        self, sql: str, params: Params | None = None, settings: QuerySettings | None = None
    ) -> list[Row]:
        if "AS matched" in sql:
            self.polls += 1
            if self.failing:
                raise StoreQueryError("Code: 210. DB::NetException: Connection refused")
        return await super().select(sql, params, settings)


@contextlib.asynccontextmanager
async def serving(store: EmbeddedStore, **options: Any) -> AsyncIterator[tuple[FastAPI, str]]:
    """The app over `store` on a free loopback port; its streams ended before it stops."""
    publisher = DispatcherPublisher(KafkaConnection("127.0.0.1:9"))  # never started: unused
    app = build_app(store, publisher, **options)
    try:
        async with served(app) as url:
            try:
                yield app, url
            finally:
                await services_of(app).live.close()
    finally:
        await publisher.stop()


@contextlib.asynccontextmanager
async def client(url: str, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, trust_env=False, timeout=10, limits=limits
    ) as http:
        yield http


def fresh(n: int, **fields: Any) -> AttemptRecord:
    """The n-th attempt, at now plus n ms: for the streams opened before it is made (a stream
    is sent only attempts of after it opened)."""
    at = datetime.now(UTC) + timedelta(milliseconds=n)
    return attempt_record(n, attempted_at=at, **fields)


def newest_first(records: Sequence[AttemptRecord]) -> list[str]:
    return [str(r.attempt_id) for r in sorted(records, key=clickhouse_order, reverse=True)]


def ids(events: Sequence[Event]) -> list[str]:
    assert {e.name for e in events} <= {"message"}, [e.data for e in events]
    return [e.json()["attempt_id"] for e in events]


async def test_each_stream_gets_what_its_filters_match_and_nothing_else(
    embedded_store: EmbeddedStore,
) -> None:
    views: dict[str, Any] = {
        "is": {"publisher_id": "42"},
        "is_not": {"publisher_id__is_not": "42"},
        "contains": {"url__contains": "ALPHA"},
        "both": [("publisher_id", "43"), ("url__contains", "alpha"), ("status", "Success")],
    }
    async with (
        serving(embedded_store, stream_limits=FAST) as (_, url),
        client(url) as http,
        contextlib.AsyncExitStack() as streams,
    ):
        opened = {
            name: await streams.enter_async_context(event_stream(http, PATH, params=params))
            for name, params in views.items()
        }
        rows = [
            fresh(n, publisher_id=42 if n % 2 else 43, url=f"http://x/{'alpha' if n % 3 else 'b'}")
            for n in range(12)
        ]
        await insert_attempts(embedded_store, rows)
        expected = {
            "is": [r for r in rows if r.publisher_id == 42],
            "is_not": [r for r in rows if r.publisher_id != 42],
            "contains": [r for r in rows if "alpha" in r.url],
            "both": [
                r
                for r in rows
                if r.publisher_id == 43 and "alpha" in r.url and r.status == "Success"
            ],
        }
        for name, stream in opened.items():
            got = await stream.take(len(expected[name]))
            # One insert, one read: one batch, newest first.
            assert ids(got) == newest_first(expected[name]), name
            assert not await stream.quiet(SETTLE_S), name


async def test_a_batch_is_newest_first_and_its_last_event_carries_the_new_position(
    embedded_store: EmbeddedStore,
) -> None:
    now = datetime.now(UTC) + timedelta(seconds=1)
    # Two share a millisecond: the attempt id orders them, as ClickHouse compares UUIDs.
    times = [now, now + timedelta(milliseconds=5), now, now - timedelta(milliseconds=3)]
    rows = [attempt_record(n, attempted_at=at, publisher_id=42) for n, at in enumerate(times)]
    async with (
        serving(embedded_store, stream_limits=FAST) as (_, url),
        client(url) as http,
        event_stream(http, PATH, params={"publisher_id": "42"}) as stream,
    ):
        await asyncio.sleep(0.05)  # the opening, with its id, has been read
        opening_id = stream.last_event_id
        assert decode_cursor(opening_id).attempted_at_ms <= now.timestamp() * 1000
        assert stream.retry_ms == 1000
        await insert_attempts(embedded_store, rows)
        got = await stream.take(len(rows))
    assert ids(got) == newest_first(rows)
    assert [e.last_event_id for e in got[:-1]] == [opening_id] * (len(rows) - 1)
    newest = sorted(rows, key=clickhouse_order)[-1]
    millis = int(newest.attempted_at.timestamp() * 1000)
    assert decode_cursor(got[-1].last_event_id) == CursorPosition(millis, newest.attempt_id)
    # The data is an item of GET /api/v1/logs: the listed fields, no `source`.
    item = got[0].json()
    assert "source" not in item
    assert set(item) == {"attempt_id", "attempted_at", *FILTERABLE_COLUMNS} | {
        "postback_id", "method", "latency_ms", "trigger", "refire_of", "attempt_number",
    }  # fmt: skip


async def test_an_idle_stream_sends_heartbeats(embedded_store: EmbeddedStore) -> None:
    limits = StreamLimits(interval_seconds=0.1, heartbeat_seconds=0.2)
    async with (
        serving(embedded_store, stream_limits=limits) as (_, url),
        client(url) as http,
        event_stream(http, PATH) as stream,
    ):
        assert not await stream.quiet(1.1)
    assert stream.comments[:3] == ["heartbeat"] * 3
    assert set(stream.comments) == {"heartbeat"}


@pytest.mark.parametrize("bystander", [False, True], ids=["alone", "poller kept running"])
async def test_a_stream_resumed_with_last_event_id_gets_what_it_missed_exactly_once(
    embedded_store: EmbeddedStore, bystander: bool
) -> None:
    """Alone, the poller stops and starts again, and its first read finds the missed rows new;
    with another client, the poller has seen them already. Either way: each row once."""
    params = {"publisher_id": "42"}
    async with (
        serving(embedded_store, stream_limits=FAST) as (_, url),
        client(url) as http,
        contextlib.AsyncExitStack() as others,
    ):
        watching = await others.enter_async_context(event_stream(http, PATH, params=params))
        if not bystander:
            await others.aclose()
        async with event_stream(http, PATH, params=params) as stream:
            first = [fresh(n, publisher_id=42) for n in range(3)]
            await insert_attempts(embedded_store, first)
            assert ids(await stream.take(3)) == newest_first(first)
            last_id = stream.last_event_id
        missed = [fresh(n, publisher_id=42) for n in range(3, 6)] + [fresh(6, publisher_id=43)]
        await insert_attempts(embedded_store, missed)
        await asyncio.sleep(SETTLE_S)  # read by the running poller, if there is one
        async with event_stream(
            http, PATH, params=params, headers={"Last-Event-ID": last_id}
        ) as again:
            assert ids(await again.take(3)) == newest_first(missed[:3])
            assert not await again.quiet(SETTLE_S)  # the live reads bring none of them again
            later = [fresh(7, publisher_id=42)]
            await insert_attempts(embedded_store, later)
            assert ids(await again.take(1)) == newest_first(later)
            assert not await again.quiet(SETTLE_S)
        if bystander:
            assert ids(await watching.take(7)) == [
                *newest_first(first), *newest_first(missed[:3]), *newest_first(later)
            ]  # fmt: skip


async def test_a_resume_past_its_bound_sends_the_newest_then_a_gap(
    embedded_store: EmbeddedStore,
) -> None:
    limits = StreamLimits(interval_seconds=0.1, resume_rows=2)
    async with serving(embedded_store, stream_limits=limits) as (_, url), client(url) as http:
        position = encode_cursor(before(int(datetime.now(UTC).timestamp() * 1000)))
        missed = [fresh(n, publisher_id=42) for n in range(3)]
        await insert_attempts(embedded_store, missed)
        headers = {"Last-Event-ID": position}
        async with event_stream(http, PATH, params={"publisher_id": "42"}, headers=headers) as s:
            got = await s.take(3)
    assert ids(got[:2]) == newest_first(missed)[:2]
    assert got[2].name == "gap"
    assert got[2].json()["reason"] == "resume_limit"


async def test_a_read_past_its_row_limit_sends_the_newest_then_a_gap(
    embedded_store: EmbeddedStore,
) -> None:
    limits = StreamLimits(interval_seconds=0.1, rows_per_poll=3)
    async with (
        serving(embedded_store, stream_limits=limits) as (_, url),
        client(url) as http,
        event_stream(http, PATH) as stream,
    ):
        rows = [fresh(n) for n in range(5)]
        await insert_attempts(embedded_store, rows)
        got = await stream.take(4)
        assert not await stream.quiet(SETTLE_S)  # the two left behind are older: not read again
    assert ids(got[:3]) == newest_first(rows)[:3]
    assert (got[3].name, got[3].json()["reason"]) == ("gap", "poll_limit")


async def test_a_read_filled_by_another_filter_set_tells_every_stream_of_the_gap(
    embedded_store: EmbeddedStore,
) -> None:
    limits = StreamLimits(interval_seconds=0.1, rows_per_poll=3)
    async with (
        serving(embedded_store, stream_limits=limits) as (_, url),
        client(url) as http,
        event_stream(http, PATH) as everything,
        event_stream(http, PATH, params={"publisher_id": "42"}) as quiet,
    ):
        # 42's two attempts are the oldest: the newest three, all 43's, fill the one read.
        rows = [fresh(n, publisher_id=42 if n < 2 else 43) for n in range(5)]
        await insert_attempts(embedded_store, rows)
        await everything.take(4)
        told = await quiet.take(1)
    assert (told[0].name, told[0].json()["reason"]) == ("gap", "poll_limit")


async def test_a_confined_token_only_ever_gets_its_publishers_rows(
    embedded_store: EmbeddedStore,
) -> None:
    tokens = TokenTable(
        {
            "confined": Grant(frozenset({"logs:read"}), Confinement(publisher_ids=frozenset({42}))),
            "admin": ["logs:read"],
        }
    )
    # A confined token sees the attempts of its publishers' configurations (confinement.py).
    configs = {p: await saved_config(embedded_store, p) for p in (42, 43)}
    async with (
        serving(embedded_store, stream_limits=FAST, tokens=tokens) as (_, url),
        client(url, "confined") as confined,
        client(url, "admin") as admin,
        client(url) as anonymous,
    ):
        refused = await anonymous.get(PATH)
        assert refused.status_code == 401
        async with (
            event_stream(confined, PATH) as own,
            event_stream(confined, PATH, params={"publisher_id": "43"}) as other,
            event_stream(admin, PATH) as everything,
        ):
            publishers = [42 + n % 2 for n in range(6)]
            rows = [
                fresh(n, publisher_id=p, postback_id=configs[p]) for n, p in enumerate(publishers)
            ]
            await insert_attempts(embedded_store, rows)
            assert ids(await everything.take(6)) == newest_first(rows)
            assert ids(await own.take(3)) == newest_first([r for r in rows if r.publisher_id == 42])
            assert not await own.quiet(SETTLE_S)
            assert not await other.quiet(0)


async def test_a_confined_stream_ends_in_time_and_resumes_under_the_confinement_of_then(
    embedded_store: EmbeddedStore,
) -> None:
    tokens = TokenTable(
        {
            "confined": Grant(frozenset({"logs:read"}), Confinement(publisher_ids=frozenset({42}))),
            "admin": ["logs:read"],
        }
    )
    limits = StreamLimits(interval_seconds=0.1, heartbeat_seconds=0.1, confined_stream_seconds=0.5)
    kept, moved = await saved_config(embedded_store, 42), await saved_config(embedded_store, 42)
    async with (
        serving(embedded_store, stream_limits=limits, tokens=tokens) as (_, url),
        client(url, "confined") as confined,
        client(url, "admin") as admin,
    ):
        async with event_stream(confined, PATH) as own, event_stream(admin, PATH) as everything:
            with pytest.raises(AssertionError, match="has ended"):
                await own.take(1, timeout_s=5)  # heartbeats are comments: it ends with none
            with pytest.raises(AssertionError, match="no event within"):
                await everything.next(timeout_s=0.2)  # an unconfined one goes on
            resume_from = own.last_event_id
        # An admin moves one of 42's configurations to publisher 43 meanwhile.
        stored = await ConfigRepository(embedded_store).get(moved)
        assert stored is not None
        await ConfigRepository(embedded_store).save(
            stored.model_copy(update={"publisher_id": 43, "version": stored.version + 1})
        )
        rows = [fresh(n, publisher_id=42, postback_id=(kept, moved)[n % 2]) for n in range(4)]
        await insert_attempts(embedded_store, rows)
        headers = {"Last-Event-ID": resume_from}
        async with event_stream(confined, PATH, headers=headers) as resumed:
            got = await resumed.take(2)
            assert not await resumed.quiet(SETTLE_S)
    assert ids(got) == newest_first([r for r in rows if r.postback_id == kept])


async def test_past_the_client_bound_a_stream_is_refused_and_a_closed_one_frees_its_slot(
    embedded_store: EmbeddedStore,
) -> None:
    limits = StreamLimits(interval_seconds=0.1, max_clients=2)
    async with (
        serving(embedded_store, stream_limits=limits) as (app, url),
        client(url) as http,
        event_stream(http, PATH),
    ):
        async with event_stream(http, PATH, params={"status": "Failed"}):
            refused = await http.get(PATH)
            assert refused.status_code == 503
            error = refused.json()["error"]
            assert error["code"] == "too_many_streams"
            assert "POSTBACKS_API_MAX_STREAM_CLIENTS" in error["message"]
            assert refused.headers["Retry-After"] == "5"

        # The client went away: the server notices (http.disconnect) and frees its slot.
        async def freed() -> bool:  # 503 while the slot is taken, then the 400 of `limit`
            return (await http.get(PATH, params={"limit": "1"})).status_code == 400

        await until(freed, "the closed stream's slot freed", timeout_s=5, every_s=0.02)
        async with event_stream(http, PATH) as third:
            assert not await third.quiet(0.2)
        # At shutdown every stream ends, and new ones are refused.
        async with event_stream(http, PATH) as last:
            await services_of(app).live.close()
            with pytest.raises(AssertionError, match="ended"):
                await last.next(5)
        assert (await http.get(PATH)).status_code == 503


async def test_a_hundred_clients_with_different_filters_cost_one_read_per_interval(
    chdb_dir: Path, embedded_store: EmbeddedStore
) -> None:
    interval = 0.25
    store = CountingStore(chdb_dir, embedded_store.database)
    publishers = range(1000, 1100)
    async with (
        serving(store, stream_limits=StreamLimits(interval_seconds=interval)) as (_, url),
        client(url) as http,
        contextlib.AsyncExitStack() as exits,
    ):
        streams = [
            await exits.enter_async_context(event_stream(http, PATH, params={"publisher_id": p}))
            for p in publishers
        ]
        rows = [fresh(n, publisher_id=p) for n, p in enumerate(publishers)]
        await insert_attempts(store, rows)
        for stream, row in zip(streams, rows, strict=True):
            assert ids(await stream.take(1)) == [str(row.attempt_id)]
        before_reads, started = store.polls, asyncio.get_running_loop().time()
        await asyncio.sleep(2)
        reads = store.polls - before_reads
        elapsed = asyncio.get_running_loop().time() - started
        assert 2 <= reads <= elapsed / interval + 1, reads
        for stream in streams:
            assert not await stream.quiet(0)


async def test_a_failing_read_is_told_once_and_the_next_reads_catch_up(
    chdb_dir: Path, embedded_store: EmbeddedStore
) -> None:
    store = CountingStore(chdb_dir, embedded_store.database)
    store.failing = True
    async with (
        serving(store, stream_limits=FAST) as (_, url),
        client(url) as http,
        event_stream(http, PATH) as stream,
    ):
        warning = await stream.next()
        assert warning.name == "warning"
        assert "cannot read the log" in warning.json()["message"]
        assert "NetException" not in warning.data  # the store's error stays in the server's log
        rows = [fresh(n, publisher_id=42) for n in range(2)]
        await insert_attempts(store, rows)
        polls = store.polls
        await until(lambda: store.polls >= polls + 3, "three more failed reads", every_s=0.05)
        assert not await stream.quiet(0)  # told once, however many reads failed
        store.failing = False
        assert ids(await stream.take(2)) == newest_first(rows)


async def test_reads_failing_for_longer_than_the_lookback_end_in_a_gap(
    chdb_dir: Path, embedded_store: EmbeddedStore
) -> None:
    store = CountingStore(chdb_dir, embedded_store.database)
    store.failing = True
    limits = StreamLimits(interval_seconds=0.1, lookback_seconds=0.3)
    async with (
        serving(store, stream_limits=limits) as (_, url),
        client(url) as http,
        event_stream(http, PATH) as stream,
    ):
        assert (await stream.next()).name == "warning"
        await until(lambda: store.polls >= 6, "reads failing for longer than 0.3 s", every_s=0.05)
        store.failing = False
        gap = await stream.next()
    assert (gap.name, gap.json()["reason"]) == ("gap", "unreadable")


async def test_stopping_the_service_ends_the_open_streams(embedded_store: EmbeddedStore) -> None:
    """uvicorn stops only once every response has ended: QueryApi.serve ends the streams."""
    port = free_port()
    api = QueryApi(QueryApiSettings(api_port=port), embedded_store)
    serving = asyncio.create_task(api.serve())
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url)
        async with client(url) as http, event_stream(http, PATH) as stream:
            serving.cancel()
            with pytest.raises(AssertionError, match="ended"):
                await stream.next(5)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(serving, 5)
    finally:
        serving.cancel()
        await api.stop()


def test_the_settings_defaults_are_the_limits_defaults() -> None:
    assert QueryApiSettings().stream_limits == StreamLimits()


async def test_what_does_not_apply_is_refused_naming_it(embedded_store: EmbeddedStore) -> None:
    async with serving(embedded_store, stream_limits=FAST) as (_, url), client(url) as http:
        for name, value in (("from", "2026-01-01T00:00:00Z"), ("limit", "5"), ("cursor", "x")):
            answer = await http.get(PATH, params={name: value})
            assert answer.status_code == 400
            assert f"'{name}' does not apply" in answer.json()["error"]["message"]
        bad = await http.get(PATH, params={"publisher_idd": "1"})
        assert "did you mean 'publisher_id'" in bad.json()["error"]["message"]
        resumed = await http.get(PATH, headers={"Last-Event-ID": "not-an-id"})
        assert resumed.status_code == 400
        assert "Last-Event-ID" in resumed.json()["error"]["message"]


async def test_the_route_is_documented_as_an_event_stream_with_its_parameters() -> None:
    publisher = DispatcherPublisher(KafkaConnection("127.0.0.1:9"))
    try:
        document = build_app(NoStore(), publisher).openapi()
    finally:
        await publisher.stop()
    operation = document["paths"][PATH]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["text/event-stream"]
    assert {"400", "503"} <= set(operation["responses"])
    query = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    suffixes = ("", "__is_not", "__contains")
    assert query == {f"{c}{s}" for c in FILTERABLE_COLUMNS for s in suffixes}
    headers = [p["name"] for p in operation["parameters"] if p["in"] == "header"]
    assert headers == ["Last-Event-ID"]


async def test_a_slow_client_gets_a_gap_instead_of_growing_memory() -> None:
    limits = StreamLimits(max_pending_rows=3)
    watcher = Watcher((), before(0), limits)
    chunks = watcher.chunks()
    await anext(chunks)  # the opening

    def rows(count: int) -> list[Delivery]:
        made = []
        for n in range(count):
            position = CursorPosition(1000 - n, uuid.uuid4())
            made.append(Delivery(position, str(position.attempt_id), b"{}"))
        return made

    watcher.add(rows(2), since_ms=0)
    for _ in range(4):  # not read meanwhile: the newer batches are skipped
        watcher.add(rows(2), since_ms=0)
        watcher.tell(wire.notice("warning", message="not kept: the client is behind already"))
    watcher.add(rows(1), since_ms=0)  # fits again
    text = (await anext(chunks)).decode()
    blocks = text.strip("\n").split("\n\n")
    assert len(blocks) == 4
    assert blocks[2] == wire.notice(
        "gap",
        reason="slow_client",
        skipped=8,
        message="this client fell 3 attempts behind the live view: 8 newer ones were skipped "
        "here; they are in the log",
    ).decode().strip("\n")


# --- the property: a stream gets what GET /api/v1/logs lists for the same filters ------------

FILTERS = st.lists(
    st.sampled_from(
        [
            ("publisher_id", "42"), ("publisher_id", "43"), ("publisher_id__is_not", "42"),
            ("status", "Failed"), ("status__is_not", "Failed"), ("response_code", "503"),
            ("url__contains", "ALPHA"), ("url__contains", "eta"), ("offer_id__contains", "7"),
            ("transaction_id__contains", "1"), ("postback_name", "pb-1"),
            ("postback_name__is_not", "pb-2"),
        ]
    ),
    max_size=3,
)  # fmt: skip


@pytest.fixture
async def live_url(embedded_store: EmbeddedStore) -> AsyncIterator[str]:
    """One server for every example of the property: each opens streams of its own."""
    async with serving(embedded_store, stream_limits=FAST) as (_, url):
        yield url


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    views=st.lists(FILTERS, min_size=1, max_size=3),
    count=st.integers(1, 8),
    seed=st.integers(0, 2**32),
)
async def test_a_stream_gets_what_the_log_lists_for_the_same_filters(
    embedded_store: EmbeddedStore,
    live_url: str,
    views: list[list[tuple[str, str]]],
    count: int,
    seed: int,
) -> None:
    rng = random.Random(seed)
    async with client(live_url) as http, contextlib.AsyncExitStack() as exits:
        streams = [
            await exits.enter_async_context(event_stream(http, PATH, params=v)) for v in views
        ]
        now = datetime.now(UTC)  # to the millisecond, as the log keeps attempted_at
        since = now.replace(microsecond=now.microsecond // 1000 * 1000)
        rows = [
            fresh(
                rng.randrange(4),  # a few share a millisecond
                publisher_id=rng.choice([42, 43, 44]),
                url=f"http://x/{rng.choice(['alpha', 'beta', 'Alpha-Beta'])}",
            )
            for _ in range(count)
        ]
        await insert_attempts(embedded_store, rows)
        for stream, view in zip(streams, views, strict=True):
            listed = await http.get("/api/v1/logs", params=[*view, ("from", since.isoformat())])
            items = listed.json()["items"]
            got = await stream.take(len(items)) if items else []
            assert [e.json() for e in got] == items, view
        await asyncio.sleep(SETTLE_S)
        for stream, view in zip(streams, views, strict=True):
            assert not await stream.quiet(0), view
