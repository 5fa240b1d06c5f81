"""What the broker holds for the log-writer: committed offsets, dead letters."""

from __future__ import annotations

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from postbacks import topics
from tests.kafka_topics import read_topic


async def committed_total(bootstrap: str, group: str) -> int:
    """The sum over partitions of the group's committed offsets on postbacks.attempts."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topics.ATTEMPTS) or set()
        offsets = [await consumer.committed(TopicPartition(topics.ATTEMPTS, p)) for p in partitions]
        return sum(o or 0 for o in offsets)
    finally:
        await consumer.stop()


async def dead_letters_of(bootstrap: str, value: bytes) -> list[dict[str, object]]:
    letters = [orjson.loads(r.value) for r in await read_topic(bootstrap, topics.DLQ) if r.value]
    return [d for d in letters if d["value_text"] == value.decode()]


async def produce(bootstrap: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send(topics.ATTEMPTS, value)
        await producer.flush()
    finally:
        await producer.stop()
