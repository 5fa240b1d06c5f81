"""Reading a topic in tests: everything on one partition, from the beginning to its end now."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord


async def read_topic(bootstrap: str, topic: str, partition: int = 0) -> list[ConsumerRecord]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
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
