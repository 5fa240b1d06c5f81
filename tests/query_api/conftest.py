"""The query-api app over HTTP in process (ASGI), on real chDB and the real embedded broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from postbacks.kafka_connection import KafkaConnection
from postbacks.store.chdb_backend import EmbeddedStore
from query_api.app import build_app
from query_api.dispatcher_publisher import DispatcherPublisher


@pytest.fixture
async def publisher(kafka_topics: str) -> AsyncIterator[DispatcherPublisher]:
    publisher = DispatcherPublisher(KafkaConnection(kafka_topics))
    await publisher.start()
    yield publisher
    await publisher.stop()


@pytest.fixture
async def api(
    embedded_store: EmbeddedStore, publisher: DispatcherPublisher
) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(embedded_store, publisher)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client
