from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.receivers import Receiver, receiver


@pytest.fixture(scope="module")
def publisher_server() -> Iterator[Receiver]:
    with receiver() as server:
        yield server
