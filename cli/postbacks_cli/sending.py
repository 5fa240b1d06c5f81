"""`postbacks send`: produce test input to a running system."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from postbacks import topics
from postbacks.kafka_connection import KafkaConnection


async def send_inputs(
    kafka: KafkaConnection,
    topic: str,
    *,
    count: int,
    fields: dict[str, Any],
    json_value: str | None,
) -> list[str]:
    if topic not in topics.INPUT_TOPICS:
        raise SystemExit(f"unknown topic {topic!r}; use one of {', '.join(topics.INPUT_TOPICS)}")
    # lz4, as every producer of ours, so test input crosses the codec path (bench/README.md).
    producer = AIOKafkaProducer(**kafka.aiokafka(), compression_type="lz4")
    await producer.start()
    sent: list[str] = []
    try:
        for _ in range(count):
            if json_value is not None:
                value = json_value.encode()
                transaction_id = str(orjson.loads(value).get("transaction_id", ""))
            else:
                transaction_id = f"tx-{uuid.uuid4().hex[:16]}"
                message = {k: v for k, v in fields.items() if v is not None}
                value = orjson.dumps({"transaction_id": transaction_id, **message})
            await producer.send(topic, value, key=transaction_id.encode())
            sent.append(transaction_id)
        await producer.flush()
    finally:
        await producer.stop()
    return sent
