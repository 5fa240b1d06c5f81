"""The whole pipeline in the test process: embedded broker, dispatcher, log-writer, query-api.

The same components `postbacks dev` runs, on a fresh broker and a fresh ClickHouse database;
`pipeline` runs them on a Kafka given as a KafkaConnection (tests/e2e/secured_kafka.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
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

from dispatcher import service as dispatcher_service
from dispatcher.config_table import ConfigTable
from dispatcher.guard import LOOPBACK
from dispatcher.service import run_dispatcher
from dispatcher.settings import DispatcherSettings
from log_writer.service import LogWriter
from log_writer.settings import LogWriterSettings
from postbacks import topics
from postbacks.embedded_broker import EmbeddedBroker, free_port
from postbacks.kafka_admin import ensure_topics
from postbacks.kafka_connection import KafkaConnection
from postbacks.store.chdb_backend import EmbeddedStore
from query_api.service import QueryApi
from query_api.settings import QueryApiSettings
from tests.kafka_topics import group_lag, read_topic
from tests.waiting import ceiling, until

Item = dict[str, Any]


@dataclass
class System:
    kafka: KafkaConnection
    api: httpx.AsyncClient
    store: EmbeddedStore
    dispatcher: DispatcherRunner
    log_writer_group: str

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    def produce(self, topic: str, values: list[bytes], key: bytes | None = None) -> None:
        """Produce with librdkafka (confluent-kafka), as a tracking platform would."""
        producer = Producer({**self.kafka.librdkafka(), "enable.idempotence": False})
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

    async def wait_for_logs(self, count: int, timeout_s: float = 60, **params: Any) -> list[Item]:
        """The matching log rows once there are at least `count` (what there is at the ceiling:
        the caller's assertion then says what is missing)."""
        deadline = time.monotonic() + ceiling(timeout_s)
        while True:
            items = await self.logs(**params)
            if len(items) >= count or time.monotonic() > deadline:
                return items
            await asyncio.sleep(0.2)

    async def dead_letters(self, match: Callable[[Item], bool], timeout_s: float = 60) -> Item:
        async def found() -> Item | None:
            for record in await read_topic(self.kafka, topics.DLQ):
                letter: Item = orjson.loads(record.value)
                if match(letter):
                    return letter
            return None

        return await until(found, "a matching dead letter", timeout_s, every_s=0.3)

    async def configs_applied(self) -> None:
        """Until the dispatcher has applied every record on postbacks.configs so far: a change
        made through the API (create, update, delete) applies from the next input on. It
        usually takes a moment; this waits for it instead of sleeping as long as that."""
        latest: dict[bytes | None, bytes | None] = {}
        for partition in range(CONFIG_PARTITIONS):
            for record in await read_topic(self.kafka, topics.CONFIGS, partition):
                latest[record.key] = record.value

        def applied() -> bool:
            seen = self.dispatcher.seen
            return all(key in seen and seen[key] == value for key, value in latest.items())

        await until(applied, f"the {len(latest)} configurations at the dispatcher")

    async def settled(self) -> None:
        """Until every input produced so far is handled and its attempts are in the log: the
        dispatcher has committed every input (it commits an input once its attempts are
        acknowledged) and the log-writer every attempt (it commits once they are stored). What
        a test asserts did not happen after this, did not happen, rather than not yet."""

        async def lag() -> bool:
            inputs = await group_lag(self.kafka, self.dispatcher.group, INPUTS)
            attempts = await group_lag(self.kafka, self.log_writer_group, [topics.ATTEMPTS])
            return inputs + attempts == 0

        await until(lag, "inputs committed and attempts stored", every_s=0.2)


async def _wait_ready(url: str, timeout_s: float = 120) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:

        async def ready() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return (await client.get(url)).status_code == 200
            return False

        await until(ready, f"{url} ready", timeout_s, every_s=0.2)


# The input topics the dispatcher consumes, whose offsets `System.settled` watches.
INPUTS = [*topics.INPUT_TOPICS, topics.REFIRES]
CONFIG_PARTITIONS = next(spec.partitions for spec in topics.TOPICS if spec.name == topics.CONFIGS)
_RUNNER: contextvars.ContextVar[DispatcherRunner | None] = contextvars.ContextVar(
    "e2e_dispatcher_runner", default=None
)


class _SeenConfigTable(ConfigTable):
    """The dispatcher's own table, which also tells the DispatcherRunner that started it which
    configuration records it has applied (the last value by key). The test process runs the
    dispatcher's code as it is; this only lets a test wait for a change to arrive."""

    def __init__(self) -> None:
        super().__init__()
        runner = _RUNNER.get()
        self._seen = runner.seen if runner is not None else {}

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        try:
            super().apply(key, value)
        finally:  # applied or refused (the follower skips it): the record has been handled
            self._seen[key] = value


# Every dispatcher in this process builds its table with the class above (run_dispatcher takes
# the class from its module's namespace); only those a DispatcherRunner starts report to it.
dispatcher_service.ConfigTable = _SeenConfigTable  # type: ignore[attr-defined]


class DispatcherRunner:
    """The dispatcher as a task that a test can restart, as an orchestrator would."""

    def __init__(self, kafka: KafkaConnection) -> None:
        # The receivers are on loopback, which the destination guard refuses unless allowed.
        self._settings = DispatcherSettings(
            **settings_of(kafka), dispatcher_port=free_port(), allowed_networks=LOOPBACK
        )
        self.group = self._settings.dispatcher_group_id
        self._task: asyncio.Task[None] | None = None
        # The last configuration record the running dispatcher applied, by key.
        self.seen: dict[bytes | None, bytes | None] = {}

    async def _run(self) -> None:
        _RUNNER.set(self)  # in this task's own context: its table reports here
        await run_dispatcher(self._settings)

    async def start(self) -> None:
        self.seen = {}  # a new dispatcher starts from an empty table
        self._task = asyncio.create_task(self._run())
        await _wait_ready(f"http://127.0.0.1:{self._settings.dispatcher_port}/readyz")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def restart(self) -> None:
        await self.stop()
        await self.start()


def settings_of(kafka: KafkaConnection) -> dict[str, Any]:
    """The settings' fields (kafka_bootstrap, kafka_security_protocol, ...) for `kafka`."""
    return {
        variable.removeprefix("POSTBACKS_").lower(): value
        for variable, value in kafka.environment().items()
    }


@contextlib.asynccontextmanager
async def running_system(chdb_dir: Path) -> AsyncIterator[System]:
    with EmbeddedBroker() as broker:
        async with pipeline(chdb_dir, broker.kafka) as system:
            yield system


@contextlib.asynccontextmanager
async def pipeline(chdb_dir: Path, kafka: KafkaConnection) -> AsyncIterator[System]:
    """Query-api, log-writer and dispatcher on `kafka` and a fresh database, until the end."""
    await ensure_topics(kafka)
    store = EmbeddedStore(chdb_dir, database=f"e2e_{uuid.uuid4().hex[:12]}")
    api_port = free_port()
    api = QueryApi(QueryApiSettings(**settings_of(kafka), api_port=api_port), store)
    await api.start()
    writer_settings = LogWriterSettings(**settings_of(kafka), log_writer_batch_timeout_ms=100)
    writer = LogWriter(writer_settings, store)
    await writer.start()
    dispatcher = DispatcherRunner(kafka)
    serving = asyncio.create_task(api.serve({"log-writer": writer.ready}))
    try:
        await dispatcher.start()
        await _wait_ready(f"http://127.0.0.1:{api_port}/readyz")
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{api_port}", trust_env=False, timeout=10
        ) as client:
            yield System(kafka, client, store, dispatcher, writer_settings.log_writer_group_id)
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
