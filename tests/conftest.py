"""Fixtures shared by every test: one chDB directory per test process, a database per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from postbacks.embedded_broker import EmbeddedBroker
from postbacks.kafka_admin import ensure_topics
from postbacks.kafka_connection import KafkaConnection
from postbacks.store.chdb_backend import EmbeddedStore
from postbacks.store.schema import apply_schema

# The `system` fixture: the whole pipeline running, for e2e, refire and CLI tests; the test
# tiers (markers set from what each test starts, and the guard that checks them).
pytest_plugins = ("tests.e2e.system", "tests.tiers")


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # chDB opens one directory per process (design §2): every test in this process shares it.
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
async def embedded_store(chdb_dir: Path) -> AsyncIterator[EmbeddedStore]:
    store = EmbeddedStore(chdb_dir, database=f"test_{uuid.uuid4().hex[:12]}")
    await apply_schema(store)
    yield store
    await store.execute(f"DROP DATABASE IF EXISTS {store.database}")


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    """One embedded broker (Tansu) for the tests that need Kafka but not a whole pipeline."""
    with EmbeddedBroker() as broker:
        yield broker.bootstrap


@pytest.fixture
async def kafka_topics(kafka: str) -> str:
    await ensure_topics(KafkaConnection(kafka))
    return kafka
