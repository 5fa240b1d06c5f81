"""The query-api app over HTTP in process (ASGI), on real chDB and the real embedded broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from postbacks.store.chdb_backend import EmbeddedStore
from query_api.app import build_app
from query_api.dispatcher_publisher import DispatcherPublisher


@pytest.fixture
async def api(kafka_topics: str, embedded_store: EmbeddedStore) -> AsyncIterator[httpx.AsyncClient]:
    publisher = DispatcherPublisher(kafka_topics)
    await publisher.start()
    app = build_app(embedded_store, publisher)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client
    await publisher.stop()
