"""The dispatcher as the engine tests run it: configurations and conversions onto the embedded
broker, the service in a task, and what it left on the attempts topic and the group's offsets."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from dispatcher.guard import LOOPBACK
from dispatcher.resolver import Resolver, StaticResolver
from dispatcher.service import run_dispatcher
from dispatcher.settings import DispatcherSettings
from postbacks import topics
from postbacks.configs import PostbackConfig
from postbacks.embedded_broker import free_port
from postbacks.kafka_admin import ensure_topics
from postbacks.kafka_connection import KafkaConnection
from tests.dispatcher.configs import stamped

RESOLVER = StaticResolver({name: ["127.0.0.1"] for name in ("ok.test", "hang.test", "drip.test")})
ATTEMPT_PARTITIONS = next(s.partitions for s in topics.TOPICS if s.name == topics.ATTEMPTS)
INPUT_PARTITIONS = next(s.partitions for s in topics.TOPICS if s.name == topics.CONVERSIONS)


def config(url: str, publisher_id: int, timeout_ms: int = 300) -> PostbackConfig:
    return stamped(
        name=f"pub-{publisher_id}", url=url, publisher_id=publisher_id, timeout_ms=timeout_ms
    )


async def publish(bootstrap: str, configs: list[PostbackConfig], inputs: list[int]) -> None:
    """Configurations first, then one conversion per publisher id in `inputs`."""
    await ensure_topics(KafkaConnection(bootstrap))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for c in configs:
            await producer.send(
                topics.CONFIGS, c.model_dump_json().encode(), key=str(c.id).encode()
            )
        for i, publisher_id in enumerate(inputs):
            tx = f"tx-{publisher_id}-{i}"
            value = orjson.dumps(
                {"transaction_id": tx, "offer_id": 1, "publisher_id": publisher_id}
            )
            await producer.send(topics.CONVERSIONS, value, key=tx.encode())
        await producer.flush()
    finally:
        await producer.stop()


def settings(bootstrap: str, **limits: Any) -> DispatcherSettings:
    return DispatcherSettings(
        kafka_bootstrap=bootstrap,
        dispatcher_port=free_port(),
        allowed_networks=LOOPBACK,
        **limits,
    )


@contextlib.asynccontextmanager
async def dispatcher(
    config: DispatcherSettings, resolver: Resolver = RESOLVER
) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(run_dispatcher(config, resolver=resolver))
    try:
        yield task
    finally:
        task.cancel()  # what SIGTERM does (postbacks_cli.lifecycle)
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def attempts(bootstrap: str, count: int, timeout_s: float = 30) -> list[dict[str, Any]]:
    """Every attempt on the topic once at least `count` are there (or the timeout passed)."""
    deadline = time.monotonic() + timeout_s
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        parts = [TopicPartition(topics.ATTEMPTS, p) for p in range(ATTEMPT_PARTITIONS)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        while len(found) < count and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                found += [orjson.loads(r.value) for r in batch]
        return found
    finally:
        await consumer.stop()


async def committed_total(bootstrap: str, group: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        total = 0
        for p in range(INPUT_PARTITIONS):
            total += await consumer.committed(TopicPartition(topics.CONVERSIONS, p)) or 0
        return total
    finally:
        await consumer.stop()
