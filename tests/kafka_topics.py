"""Reading a topic in tests: everything on one partition, from the beginning to its end now.

Each takes the embedded broker's address, or a KafkaConnection for a secured one.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from postbacks.kafka_connection import KafkaConnection

Kafka = KafkaConnection | str


def _options(kafka: Kafka) -> dict[str, Any]:
    return (kafka if isinstance(kafka, KafkaConnection) else KafkaConnection(kafka)).aiokafka()


async def read_topic(kafka: Kafka, topic: str, partition: int = 0) -> list[ConsumerRecord]:
    consumer = AIOKafkaConsumer(**_options(kafka), group_id=None)
    await consumer.start()
    try:
        assigned = TopicPartition(topic, partition)
        consumer.assign([assigned])
        await consumer.seek_to_beginning(assigned)
        end = (await consumer.end_offsets([assigned]))[assigned]
        records: list[ConsumerRecord] = []
        while await consumer.position(assigned) < end:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records += batch
        return records
    finally:
        await consumer.stop()


async def group_offsets(kafka: Kafka, group: str, topics: list[str]) -> tuple[int, int]:
    """(committed, end) of `group` on `topics`, each summed over the partitions.

    The end of each partition is the high watermark of a fetch: Tansu answers ListOffsets with
    the base offset of the partition's last batch plus one (docs/libraries.md), which may be
    short of it. Reads offsets only: this consumer never joins the group nor commits.
    """
    consumer = AIOKafkaConsumer(**_options(kafka), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # loads metadata so partitions are known
        parts = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(parts)
        committed = {tp: await consumer.committed(tp) or 0 for tp in parts}
        for tp in parts:
            consumer.seek(tp, committed[tp])
        while any(consumer.highwater(tp) is None for tp in parts):
            await consumer.getmany(*parts, timeout_ms=100, max_records=1)
        ends = {tp: max(consumer.highwater(tp) or 0, committed[tp]) for tp in parts}
        return sum(committed.values()), sum(ends.values())
    finally:
        await consumer.stop()


async def group_lag(kafka: Kafka, group: str, topics: list[str]) -> int:
    """Records on `topics` that `group` has not committed yet."""
    committed, end = await group_offsets(kafka, group, topics)
    return end - committed
