"""/readyz means what it says: each service asks its broker and its store again (not only at start),
answers 503 naming the dependency that is not ready and why, and caches its answer for a second.

Real parts only: the embedded broker (stopped in the test to take Kafka away) and chDB (a store
whose database is dropped under it)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dispatcher.service import run_dispatcher
from dispatcher.settings import DispatcherSettings
from log_writer.service import run_log_writer
from log_writer.settings import LogWriterSettings
from postbacks.embedded_broker import EmbeddedBroker, free_port
from postbacks.kafka_admin import ensure_topics
from postbacks.kafka_connection import KafkaConnection
from postbacks.ops_server import Readiness
from postbacks.store.chdb_backend import EmbeddedStore
from postbacks.store.schema import apply_schema
from query_api.app import build_app
from query_api.dispatcher_publisher import DispatcherPublisher
from tests.waiting import until

Answer = tuple[int, dict[str, Any]]


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    """A broker of this test's own: the tests stop it, which the session's broker must not be."""
    with EmbeddedBroker() as running:
        yield running


async def _poll(
    ask: Callable[[], Awaitable[Answer]], expected: Callable[[Answer], bool], timeout_s: float = 60
) -> Answer:
    """Ask until the answer is the expected one (readiness is re-checked every second or so)."""
    last: list[Answer] = []

    async def answered() -> Answer | None:
        with contextlib.suppress(httpx.TransportError):
            last[:] = [await ask()]
            if expected(last[0]):
                return last[0]
        return None

    try:
        return await until(answered, "/readyz giving the expected answer", timeout_s)
    except AssertionError:
        raise AssertionError(f"/readyz never gave the expected answer; last: {last}") from None


def _asker(client: httpx.AsyncClient, url: str) -> Callable[[], Awaitable[Answer]]:
    async def ask() -> Answer:
        answer = await client.get(url)
        body: dict[str, Any] = answer.json()
        return answer.status_code, body

    return ask


def _ready(answer: Answer) -> bool:
    return answer[0] == 200


def _not_ready_for(name: str) -> Callable[[Answer], bool]:
    return lambda answer: answer[0] == 503 and name in answer[1]["not_ready"]


@contextlib.asynccontextmanager
async def _running(service: Awaitable[None]) -> AsyncIterator[None]:
    task = asyncio.ensure_future(service)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def _query_api(store: EmbeddedStore, bootstrap: str) -> AsyncIterator[httpx.AsyncClient]:
    publisher = DispatcherPublisher(KafkaConnection(bootstrap))
    await publisher.start()
    transport = httpx.ASGITransport(app=build_app(store, publisher))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client
    finally:
        await publisher.stop()


async def test_query_api_is_ready_with_both_and_names_a_dropped_store(
    kafka_topics: str, chdb_dir: Path
) -> None:
    store = EmbeddedStore(chdb_dir, database=f"ready_{uuid.uuid4().hex[:12]}")
    await apply_schema(store)
    try:
        async with _query_api(store, kafka_topics) as client:
            ask = _asker(client, "/readyz")
            status, body = await ask()
            assert status == 200, body
            assert body == {
                "status": "ready",
                "checks": {"store": "ok", "broker": "ok"},
            }

            await store.execute(f"DROP DATABASE {store.database}")
            status, body = await _poll(ask, _not_ready_for("store"))
            assert body["status"] == "not ready"
            assert body["not_ready"] == ["store"]
            assert body["checks"]["broker"] == "ok"
            assert (
                f"table {store.database}.postback_attempts does not exist"
                in (body["checks"]["store"])
            )
            assert body["reason"].startswith("store: ClickHouse answers, but table")
    finally:
        await store.execute(f"DROP DATABASE IF EXISTS {store.database}")


class _BrokenStore:
    """A real chDB store whose queries fail the way an unreachable server's do."""

    def __init__(self, store: EmbeddedStore) -> None:
        self.database = store.database
        self._store = store

    async def select(self, sql: str, params: Any = None, settings: Any = None) -> list[Any]:
        return await self._store.select(
            "SELECT throwIf(1, 'Connection refused (127.0.0.1:8123)')", None, settings
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def test_query_api_names_a_store_that_does_not_answer(
    kafka_topics: str, embedded_store: EmbeddedStore
) -> None:
    broken: Any = _BrokenStore(embedded_store)
    async with _query_api(broken, kafka_topics) as client:
        status, body = await _asker(client, "/readyz")()
    assert status == 503, body
    assert body["not_ready"] == ["store"]
    assert "ClickHouse did not answer" in body["checks"]["store"]
    assert "Connection refused" in body["checks"]["store"]


async def test_every_service_names_the_broker_once_it_is_stopped(
    broker: EmbeddedBroker, embedded_store: EmbeddedStore
) -> None:
    await ensure_topics(broker.kafka)
    dispatcher_port, writer_port = free_port(), free_port()
    dispatcher = run_dispatcher(
        DispatcherSettings(kafka_bootstrap=broker.bootstrap, dispatcher_port=dispatcher_port)
    )
    writer = run_log_writer(
        LogWriterSettings(
            kafka_bootstrap=broker.bootstrap,
            log_writer_port=writer_port,
            log_writer_group_id=f"ready-{uuid.uuid4().hex[:8]}",
        ),
        embedded_store,
    )
    async with (
        _running(dispatcher),
        _running(writer),
        _query_api(embedded_store, broker.bootstrap) as api,
        httpx.AsyncClient(trust_env=False, timeout=10) as http,
    ):
        asks = {
            "dispatcher": _asker(http, f"http://127.0.0.1:{dispatcher_port}/readyz"),
            "log-writer": _asker(http, f"http://127.0.0.1:{writer_port}/readyz"),
            "query-api": _asker(api, "/readyz"),
        }
        expected_checks = {
            "dispatcher": {"dispatcher", "broker"},
            "log-writer": {"log-writer", "broker", "store"},
            "query-api": {"store", "broker"},
        }
        for name, ask in asks.items():
            _, body = await _poll(ask, _ready)
            assert set(body["checks"]) == expected_checks[name], body
            assert set(body["checks"].values()) == {"ok"}, body

        broker.stop()
        for name, ask in asks.items():
            _, body = await _poll(ask, _not_ready_for("broker"))
            assert "Kafka did not answer a metadata request" in body["checks"]["broker"], name
            assert "broker: Kafka did not answer" in body["reason"], name
            if "store" in body["checks"]:
                assert body["checks"]["store"] == "ok", (name, body)

        # Back on the same port: the services find it again without a restart. (The embedded
        # broker starts empty, so the topics are created again, as `postbacks dev` would.)
        broker.start()
        await ensure_topics(broker.kafka)
        for ask in asks.values():
            _, body = await _poll(ask, lambda answer: answer[1]["checks"]["broker"] == "ok")


async def test_answers_are_cached_and_concurrent_requests_share_one_round() -> None:
    calls = 0

    async def counted() -> str | None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return None

    async def hangs() -> str | None:
        await asyncio.sleep(60)
        return None

    # A window no stall of a busy machine outlasts, so "still inside" holds however slow.
    readiness = Readiness({"counted": counted}, cache_s=60)
    answers = await asyncio.gather(*(readiness.check() for _ in range(50)))
    assert calls == 1
    assert all(answer == {"counted": None} for answer in answers)
    await readiness.check()
    assert calls == 1  # still inside the cache window

    # Past the window, the next request asks again: a short one, and a wait at least as long.
    short = Readiness({"counted": counted}, cache_s=0.2)
    await short.check()
    assert calls == 2
    await asyncio.sleep(0.3)  # a lower bound, which a slow machine only lengthens
    await short.check()
    assert calls == 3

    slow = Readiness({"hangs": hangs}, timeout_s=0.2)
    started = time.monotonic()
    assert await slow.check() == {"hangs": "no answer within 0.2 s"}
    assert time.monotonic() - started < 30  # the check's own timeout, not the 60 s it hangs
