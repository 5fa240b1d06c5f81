"""The log-writer commits offsets only after ClickHouse stored the rows (real broker, real chDB).

The store is wrapped at its seam so that its first insert fails, as a ClickHouse outage would.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from log_writer.service import LogWriter
from log_writer.settings import LogWriterSettings
from postbacks import topics
from postbacks.embedded_broker import EmbeddedBroker
from postbacks.kafka_admin import ensure_topics
from postbacks.store import StoreError
from postbacks.store.chdb_backend import EmbeddedStore
from tests.attempts import attempt_record
from tests.log_writer.kafka_state import committed_total, dead_letters_of
from tests.waiting import until

GROUP = "log-writer-under-test"
INVALID = b'{"attempt_id": "not a uuid"}'


class FailingFirstInsert(EmbeddedStore):
    def __init__(self, inner: EmbeddedStore) -> None:
        self.__dict__.update(inner.__dict__)
        self.insert_calls = 0

    async def insert_json(self, table: str, rows: Sequence[bytes]) -> None:
        self.insert_calls += 1
        if self.insert_calls == 1:
            raise StoreError("ClickHouse is down (injected)")
        await super().insert_json(table, rows)


async def test_a_failed_insert_is_retried_and_nothing_is_lost_or_doubled(
    embedded_store: EmbeddedStore,
) -> None:
    records = [attempt_record(n) for n in range(50)]
    with EmbeddedBroker() as broker:
        await ensure_topics(broker.kafka)
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        for record in records:
            await producer.send(topics.ATTEMPTS, record.model_dump_json().encode())
        await producer.send(topics.ATTEMPTS, INVALID)
        await producer.stop()

        store = FailingFirstInsert(embedded_store)
        settings = LogWriterSettings(
            kafka_bootstrap=broker.bootstrap,
            log_writer_group_id=GROUP,
            log_writer_batch_timeout_ms=200,
        )
        writer = LogWriter(settings, store)
        await writer.start()
        try:
            table = store.table("postback_attempts")
            rows: list[dict[str, object]] = []

            async def stored_and_committed() -> bool:
                rows[:] = await store.select(f"SELECT attempt_id FROM {table}")
                return (
                    len(rows) >= len(records)
                    and await committed_total(broker.bootstrap, GROUP) == 51
                )

            await until(stored_and_committed, "every record stored and committed", every_s=0.3)
        finally:
            await writer.stop()

        assert store.insert_calls >= 2, "the first insert failed, so a second must have run"
        assert sorted(str(r["attempt_id"]) for r in rows) == sorted(
            str(r.attempt_id) for r in records
        )
        # Every record, the invalid one included, is committed once stored or dead-lettered.
        assert await committed_total(broker.bootstrap, GROUP) == 51
        # The batch was read twice (one failed insert), yet its bad record is dead-lettered once.
        assert len(await dead_letters_of(broker.bootstrap, INVALID)) == 1
