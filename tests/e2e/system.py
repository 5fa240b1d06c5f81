"""The whole pipeline in the test process: embedded broker, dispatcher, log-writer, query-api.

The same components `postbacks dev` runs, on a fresh broker and a fresh ClickHouse database.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import Producer

from dispatcher.guard import LOOPBACK
from dispatcher.service import run_dispatcher
from dispatcher.settings import DispatcherSettings
from log_writer.service import LogWriter
from log_writer.settings import LogWriterSettings
from postbacks import topics
from postbacks.embedded_broker import EmbeddedBroker, free_port
from postbacks.kafka_admin import ensure_topics
from postbacks.store.chdb_backend import EmbeddedStore
from query_api.service import QueryApi
from query_api.settings import QueryApiSettings
from tests.kafka_topics import read_topic

Item = dict[str, Any]


@dataclass
class System:
    bootstrap: str
    api: httpx.AsyncClient
    store: EmbeddedStore
    dispatcher: DispatcherRunner

    def produce(self, topic: str, values: list[bytes], key: bytes | None = None) -> None:
        """Produce with librdkafka (confluent-kafka), as a tracking platform would."""
        producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": False})
        for value in values:
            producer.produce(topic, value=value, key=key)
        assert producer.flush(10) == 0, "librdkafka producer could not deliver"

    async def create_postback(self, **config: Any) -> Item:
        answer = await self.api.post("/api/v1/postbacks", json=config)
        assert answer.status_code == 201, answer.text
        created: Item = answer.json()
        return created

    async def logs(self, **params: Any) -> list[Item]:
        """Every matching log row, following next_cursor to the end."""
        items: list[Item] = []
        query = dict(params)
        while True:
            answer = await self.api.get("/api/v1/logs", params=query)
            assert answer.status_code == 200, answer.text
            page = answer.json()
            items += page["items"]
            if page["next_cursor"] is None:
                return items
            query["cursor"] = page["next_cursor"]

    async def wait_for_logs(self, count: int, timeout_s: float = 30, **params: Any) -> list[Item]:
        deadline = time.monotonic() + timeout_s
        while True:
            items = await self.logs(**params)
            if len(items) >= count or time.monotonic() > deadline:
                return items
            await asyncio.sleep(0.2)

    async def dead_letters(self, match: Callable[[Item], bool], timeout_s: float = 20) -> Item:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for record in await read_topic(self.bootstrap, topics.DLQ):
                letter: Item = orjson.loads(record.value)
                if match(letter):
                    return letter
            await asyncio.sleep(0.3)
        raise AssertionError("no matching dead letter arrived")


async def _wait_ready(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(trust_env=False) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url} not ready in {timeout_s}s")


class DispatcherRunner:
    """The dispatcher as a task that a test can restart, as an orchestrator would."""

    def __init__(self, bootstrap: str) -> None:
        # The receivers are on loopback, which the destination guard refuses unless allowed.
        self._settings = DispatcherSettings(
            kafka_bootstrap=bootstrap, dispatcher_port=free_port(), allowed_networks=LOOPBACK
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(run_dispatcher(self._settings))
        await _wait_ready(f"http://127.0.0.1:{self._settings.dispatcher_port}/readyz")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@contextlib.asynccontextmanager
async def running_system(chdb_dir: Path) -> AsyncIterator[System]:
    with EmbeddedBroker() as broker:
        await ensure_topics(broker.bootstrap)
        store = EmbeddedStore(chdb_dir, database=f"e2e_{uuid.uuid4().hex[:12]}")
        kafka = broker.bootstrap
        api_port = free_port()
        api = QueryApi(QueryApiSettings(kafka_bootstrap=kafka, api_port=api_port), store)
        await api.start()
        writer = LogWriter(
            LogWriterSettings(kafka_bootstrap=kafka, log_writer_batch_timeout_ms=100), store
        )
        await writer.start()
        dispatcher = DispatcherRunner(kafka)
        serving = asyncio.create_task(api.serve({"log-writer": writer.ready}))
        try:
            await dispatcher.start()
            await _wait_ready(f"http://127.0.0.1:{api_port}/readyz")
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{api_port}", trust_env=False, timeout=10
            ) as client:
                yield System(broker.bootstrap, client, store, dispatcher)
        finally:
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
            await dispatcher.stop()
            await writer.stop()
            await api.stop()
            await store.execute(f"DROP DATABASE IF EXISTS {store.database}")


@pytest.fixture(scope="module")
async def system(chdb_dir: Path) -> AsyncIterator[System]:
    """The running pipeline, one per test module (tests/conftest.py registers this module).

    Joining consumer groups costs seconds, so the tests of a module share it and keep apart by
    using publisher ids of their own.
    """
    async with running_system(chdb_dir) as running:
        yield running
