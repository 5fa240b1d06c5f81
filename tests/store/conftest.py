"""Every store backend behind one fixture, so the contract is written once (design §2).

- embedded: chDB in this process.
- server-via-front: clickhouse-connect over HTTP to a ClickHouse HTTP front over chDB.
- server: clickhouse-connect to the real server at CLICKHOUSE_URL, when that is set.
"""

from __future__ import annotations

import os
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from postbacks.store.chdb_backend import EmbeddedStore
from postbacks.store.protocol import Store
from postbacks.store.schema import apply_schema
from postbacks.store.server_backend import ServerStore
from tests.store.clickhouse_http_front import ClickHouseHttpFront


@pytest.fixture(scope="session")
def clickhouse_front(chdb_dir: Path) -> Iterator[ClickHouseHttpFront]:
    front = ClickHouseHttpFront(chdb_dir)
    front.start()
    with urllib.request.urlopen(f"{front.url}/ping", timeout=5) as answer:
        assert answer.read() == b"Ok.\n"
    yield front
    front.stop()


def _open_store(request: pytest.FixtureRequest, chdb_dir: Path, database: str) -> Store:
    if request.param == "embedded":
        return EmbeddedStore(chdb_dir, database=database)
    if request.param == "server-via-front":
        front: ClickHouseHttpFront = request.getfixturevalue("clickhouse_front")
        return ServerStore(host=front.host, port=front.port, database=database)
    url = os.environ.get("CLICKHOUSE_URL")
    if not url:
        pytest.skip("CLICKHOUSE_URL is not set: no ClickHouse server to run the contract against")
    return ServerStore.from_url(url, database=database)


@pytest.fixture(params=["embedded", "server-via-front", "server"])
async def store(request: pytest.FixtureRequest, chdb_dir: Path) -> AsyncIterator[Store]:
    """A store on a fresh database with the schema applied, dropped afterwards."""
    opened = _open_store(request, chdb_dir, database=f"test_{uuid.uuid4().hex[:12]}")
    await apply_schema(opened)
    yield opened
    await opened.execute(f"DROP DATABASE IF EXISTS {opened.database}")
    await opened.close()


@pytest.fixture(params=["embedded", "server-via-front"])
async def empty(request: pytest.FixtureRequest, chdb_dir: Path) -> AsyncIterator[Store]:
    """A store on a database that does not exist yet."""
    opened = _open_store(request, chdb_dir, database=f"test_{uuid.uuid4().hex[:12]}")
    yield opened
    await opened.execute(f"DROP DATABASE IF EXISTS {opened.database}")
    await opened.close()
