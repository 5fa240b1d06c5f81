from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.e2e.receivers import Receiver, receiver
from tests.e2e.system import System, running_system


@pytest.fixture(scope="module")
def publisher_server() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


@pytest.fixture(scope="module")
async def system(chdb_dir: Path) -> AsyncIterator[System]:
    # One running pipeline per test module: joining consumer groups costs seconds, so tests in a
    # module share it and keep apart by using publisher ids of their own.
    async with running_system(chdb_dir) as running:
        yield running
