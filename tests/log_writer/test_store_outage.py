"""ClickHouse unavailable for a while: the log-writer retries with backoff, commits nothing,
loses nothing, and catches up when it returns (real broker, real chDB behind a failing seam)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from log_writer.metrics import CONSUMER_LAG, INSERT_FAILURES
from log_writer.service import LogWriter
from log_writer.settings import LogWriterSettings
from postbacks import topics
from postbacks.embedded_broker import EmbeddedBroker
from postbacks.kafka_admin import ensure_topics
from postbacks.store import Params, Row, StoreError
from postbacks.store.chdb_backend import EmbeddedStore
from postbacks.store.protocol import QuerySettings
from tests.log_writer.kafka_state import committed_total, dead_letters_of, produce
from tests.log_writer.records import attempt, encoded

GROUP = "log-writer-outage"
OUTAGE_S = 3.0
INVALID = b'{"attempt_id": "not a uuid", "outage": true}'


class DownFor(EmbeddedStore):
    """The real store, unreachable (StoreError, as the server backend raises for a refused
    connection) from `go_down()` until `seconds` later. Each refused call is timed."""

    def __init__(self, inner: EmbeddedStore, seconds: float) -> None:
        self.__dict__.update(inner.__dict__)
        self._seconds = seconds
        self.down_until = 0.0
        self.refused_at: list[float] = []

    def go_down(self) -> None:
        self.down_until = time.monotonic() + self._seconds

    def _check(self) -> None:
        if time.monotonic() < self.down_until:
            self.refused_at.append(time.monotonic())
            raise StoreError("Connection refused: ClickHouse is down (injected)")

    async def select(
        self, sql: str, params: Params | None = None, settings: QuerySettings | None = None
    ) -> list[Row]:
        self._check()
        return await super().select(sql, params, settings)

    async def insert_json(self, table: str, rows: Sequence[bytes]) -> None:
        self._check()
        await super().insert_json(table, rows)


async def test_an_outage_delays_the_log_and_loses_nothing(embedded_store: EmbeddedStore) -> None:
    records = [attempt(n) for n in range(200)]
    values = [encoded(r) for r in records]
    values.insert(100, INVALID)
    store = DownFor(embedded_store, OUTAGE_S)
    failures_before = INSERT_FAILURES._value.get()
    table = embedded_store.table("postback_attempts")
    with EmbeddedBroker() as broker:
        await ensure_topics(broker.bootstrap)
        settings = LogWriterSettings(
            kafka_bootstrap=broker.bootstrap,
            log_writer_group_id=GROUP,
            log_writer_batch_timeout_ms=100,
            log_writer_retry_initial_s=0.1,
            log_writer_retry_max_s=0.8,
        )
        writer = LogWriter(settings, store)
        await writer.start()
        try:
            store.go_down()
            await produce(broker.bootstrap, values)
            await asyncio.sleep(OUTAGE_S - 0.5)
            # Down: nothing stored, nothing committed, the bad record not yet dead-lettered
            # (it is in a batch that is not done).
            assert await embedded_store.select(f"SELECT attempt_id FROM {table}") == []
            assert await committed_total(broker.bootstrap, GROUP) == 0
            # ...and the lag shows it, though this member has never committed.
            assert _lag() == len(values)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if await committed_total(broker.bootstrap, GROUP) == len(values):
                    break
                await asyncio.sleep(0.2)
            while _lag() != 0:  # reported right after the commit the loop above saw
                assert time.monotonic() < deadline, f"lag {_lag()} after everything committed"
                await asyncio.sleep(0.05)
        finally:
            await writer.stop()
        letters = await dead_letters_of(broker.bootstrap, INVALID)
        assert await committed_total(broker.bootstrap, GROUP) == len(values)

    rows = await embedded_store.select(f"SELECT toString(attempt_id) AS id FROM {table}")
    assert sorted(r["id"] for r in rows) == sorted(str(r.attempt_id) for r in records)
    assert len(letters) == 1
    assert "$.attempt_id" in str(letters[0]["reason"])
    # Retried with backoff: the pauses between refused calls grow (0.1 s doubling to 0.8 s),
    # so a 3 s outage sees a handful of attempts, not a spin.
    gaps = [b - a for a, b in zip(store.refused_at, store.refused_at[1:], strict=False)]
    assert 3 <= len(store.refused_at) <= 10, store.refused_at
    assert max(gaps) >= 0.7 > min(gaps)
    assert INSERT_FAILURES._value.get() - failures_before == len(store.refused_at)


def _lag() -> float:
    """The log-writer's lag gauge summed over the partitions of postbacks.attempts."""
    return sum(
        sample.value
        for metric in CONSUMER_LAG.collect()
        for sample in metric.samples
        if sample.labels["topic"] == topics.ATTEMPTS
    )
