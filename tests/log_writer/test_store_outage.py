"""ClickHouse unavailable for a while: the log-writer retries with backoff, commits nothing,
loses nothing, and catches up when it returns (real broker, real chDB behind a failing seam)."""

from __future__ import annotations

import itertools
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
from tests.attempts import attempt_record, encoded
from tests.log_writer.kafka_state import committed_total, dead_letters_of, produce
from tests.waiting import until

GROUP = "log-writer-outage"
REFUSALS = 5  # retries seen before the store comes back: pauses 0.1, 0.2, 0.4 and 0.8 s
INVALID = b'{"attempt_id": "not a uuid", "outage": true}'


class Outage(EmbeddedStore):
    """The real store, unreachable (StoreError, as the server backend raises for a refused
    connection) from `go_down()` until `come_back()`. Each refused call is timed."""

    def __init__(self, inner: EmbeddedStore) -> None:
        self.__dict__.update(inner.__dict__)
        self.down = False
        self.refused_at: list[float] = []

    def go_down(self) -> None:
        self.down = True

    def come_back(self) -> None:
        self.down = False

    def _check(self) -> None:
        if self.down:
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
    records = [attempt_record(n) for n in range(200)]
    values = [encoded(r) for r in records]
    values.insert(100, INVALID)
    store = Outage(embedded_store)
    failures_before = INSERT_FAILURES._value.get()
    table = embedded_store.table("postback_attempts")
    with EmbeddedBroker() as broker:
        await ensure_topics(broker.kafka)
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
            # Down for as long as the writer takes to retry a few times, however slow.
            await until(
                lambda: len(store.refused_at) >= REFUSALS, f"{REFUSALS} refused store calls"
            )
            # Down: nothing stored, nothing committed, the bad record not yet dead-lettered
            # (it is in a batch that is not done).
            assert await embedded_store.select(f"SELECT attempt_id FROM {table}") == []
            assert await committed_total(broker.bootstrap, GROUP) == 0
            # ...and the lag shows it, though this member has never committed.
            assert _lag() == len(values)
            store.come_back()

            async def all_committed() -> bool:
                return await committed_total(broker.bootstrap, GROUP) == len(values)

            await until(all_committed, "every record committed after the outage", every_s=0.2)
            # Reported right after the commit seen above.
            await until(lambda: _lag() == 0, "lag 0 after everything committed", every_s=0.05)
        finally:
            await writer.stop()
        letters = await dead_letters_of(broker.bootstrap, INVALID)
        assert await committed_total(broker.bootstrap, GROUP) == len(values)

    rows = await embedded_store.select(f"SELECT toString(attempt_id) AS id FROM {table}")
    assert sorted(r["id"] for r in rows) == sorted(str(r.attempt_id) for r in records)
    assert len(letters) == 1
    assert "$.attempt_id" in str(letters[0]["reason"])
    # Retried with backoff: the pauses between refused calls grow (0.1 s doubling to 0.8 s),
    # so an outage sees a handful of attempts, not a spin. (A busy machine makes pauses longer,
    # never shorter: these bounds hold however long the checks above took.)
    refused = store.refused_at
    gaps = [b - a for a, b in itertools.pairwise(refused)]
    assert len(refused) >= REFUSALS, refused
    assert len(refused) <= REFUSALS + (refused[-1] - refused[REFUSALS - 1]) / 0.75, refused
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
