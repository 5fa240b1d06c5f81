"""Attempt records compressed by the dispatcher's producer (librdkafka, lz4) are stored by the
log-writer (aiokafka decompresses them with cramjam), through the embedded broker: the codec
works across both client libraries and Tansu keeps the batches compressed."""

from __future__ import annotations

import json
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from dispatcher.kafka_publisher import KafkaPublisher
from log_writer.service import LogWriter
from log_writer.settings import LogWriterSettings
from postbacks import topics
from postbacks.embedded_broker import EmbeddedBroker
from postbacks.kafka_admin import ensure_topics
from postbacks.store.chdb_backend import EmbeddedStore
from tests.dispatcher.attempts import failed_attempt
from tests.waiting import until


async def test_attempts_the_dispatcher_compressed_are_stored_by_the_log_writer(
    embedded_store: EmbeddedStore,
) -> None:
    attempts = [failed_attempt(f"answer {n}") for n in range(40)]  # 3 KB URLs, compressible
    with EmbeddedBroker() as broker:
        await ensure_topics(broker.kafka)
        publisher = KafkaPublisher(broker.kafka)
        await publisher.start()
        errors: list[object] = []
        for attempt in attempts:
            await publisher.publish(
                topics.ATTEMPTS,
                attempt.to_json(),
                lambda error, _: errors.append(error),
                attempt.attempt_id.encode(),
            )
        await publisher.flush(10)
        await publisher.stop()
        assert errors == [None] * len(attempts)
        sent = sum(len(attempt.to_json()) for attempt in attempts)
        fetched = _fetched_bytes(broker.bootstrap, topics.ATTEMPTS, len(attempts))
        assert fetched < sent / 4, f"the broker answered {fetched} B for {sent} B of records"

        settings = LogWriterSettings(
            kafka_bootstrap=broker.bootstrap,
            log_writer_group_id="log-writer-compressed",
            log_writer_batch_timeout_ms=200,
        )
        writer = LogWriter(settings, embedded_store)
        await writer.start()
        table = embedded_store.table("postback_attempts")
        try:

            async def all_stored() -> bool:
                [row] = await embedded_store.select(f"SELECT count() AS n FROM {table}")
                return int(row["n"]) >= len(attempts)

            await until(all_stored, "every compressed attempt stored", every_s=0.3)
        finally:
            await writer.stop()
    stored = await embedded_store.select(f"SELECT attempt_id, server_response FROM {table}")
    assert sorted((str(r["attempt_id"]), r["server_response"]) for r in stored) == sorted(
        (a.attempt_id, a.server_response) for a in attempts
    )


def _fetched_bytes(bootstrap: str, topic: str, records: int) -> int:
    """The bytes the broker sent a librdkafka reader of every record of `topic`: the batches as
    the broker keeps them, plus a little protocol."""
    received: list[int] = []
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "fetched-bytes",  # assigned, never joined
            "enable.auto.commit": False,
            "statistics.interval.ms": 100,
            "stats_cb": lambda raw: received.append(
                sum(b["rxbytes"] for b in json.loads(raw)["brokers"].values() if b["nodeid"] >= 0)
            ),
        }
    )
    partitions = consumer.list_topics(topic, 10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    read = 0
    deadline = time.monotonic() + 20
    try:
        while read < records and time.monotonic() < deadline:
            read += sum(m.error() is None for m in consumer.consume(100, timeout=0.5))
        time.sleep(0.25)  # one more statistics window
        consumer.poll(0)
    finally:
        consumer.close()
    assert read == records
    return received[-1]
