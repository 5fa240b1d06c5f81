"""The per-test broker of the dispatcher tests that run the whole service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from postbacks.embedded_broker import EmbeddedBroker


@pytest.fixture
def kafka_bootstrap() -> Iterator[str]:
    # A broker per test: every test starts from empty topics and a fresh consumer group.
    with EmbeddedBroker() as broker:
        yield broker.bootstrap
