"""Re-fire tests: the API in process on real chDB and the embedded broker, and the whole system.

The in-process API gets a RefireRunner the test owns (fast rate, a small pair limit), so jobs
run for real and are stopped when the test ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from postbacks.kafka_connection import KafkaConnection
from postbacks.store.chdb_backend import EmbeddedStore
from query_api.app import build_app
from query_api.dispatcher_publisher import DispatcherPublisher
from tests.e2e.receivers import Receiver, receiver
from tests.refire.api import RefireApi, make_runner


@pytest.fixture
async def refire_api(kafka_topics: str, embedded_store: EmbeddedStore) -> AsyncIterator[RefireApi]:
    publisher = DispatcherPublisher(KafkaConnection(kafka_topics))
    await publisher.start()
    runner = make_runner(embedded_store, publisher)
    app = build_app(embedded_store, publisher, refires=runner)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield RefireApi(client, embedded_store, runner, publisher, kafka_topics)
    await runner.stop()
    await publisher.stop()


@pytest.fixture(scope="module")
def broken_publisher() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


@pytest.fixture(scope="module")
def healthy_publisher() -> Iterator[Receiver]:
    with receiver() as server:
        yield server
