"""Publishes what the query-api tells the dispatchers: configuration changes to the compacted
`postbacks.configs` topic (keyed by id), and fire requests to `postbacks.refires`.

A delete is a tombstone (a null value), which compaction eventually removes. aiokafka is used
directly because a tombstone needs a real null value, not an empty message.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from aiokafka import AIOKafkaProducer

from postbacks import topics
from postbacks.configs import PostbackConfig
from postbacks.fire_requests import FireRequest
from postbacks.kafka_connection import KafkaConnection


class DispatcherPublisher:
    def __init__(self, kafka: KafkaConnection) -> None:
        # lz4, the codec of every producer of ours (bench/README.md, `compression`).
        self._producer = AIOKafkaProducer(**kafka.aiokafka(), acks="all", compression_type="lz4")
        self.started = False

    @property
    def producer(self) -> AIOKafkaProducer:
        """The producer, for /readyz to ask the broker over the connections changes travel on."""
        return self._producer

    async def start(self) -> None:
        await self._producer.start()
        self.started = True

    async def stop(self) -> None:
        self.started = False
        await self._producer.stop()

    async def publish(self, config: PostbackConfig) -> None:
        await self._producer.send_and_wait(
            topics.CONFIGS, config.model_dump_json().encode(), key=str(config.id).encode()
        )

    async def publish_deleted(self, config_id: UUID) -> None:
        await self._producer.send_and_wait(topics.CONFIGS, None, key=str(config_id).encode())

    async def publish_all(self, configs: Iterable[PostbackConfig]) -> int:
        """Republish the full set: refills an empty (e.g. memory-only, restarted) broker."""
        sends = [
            await self._producer.send(
                topics.CONFIGS, c.model_dump_json().encode(), key=str(c.id).encode()
            )
            for c in configs
        ]
        for sent in sends:
            await sent
        return len(sends)

    async def request_fire(self, request: FireRequest) -> None:
        """Ask the dispatchers to fire one postback now (test fire, re-fire)."""
        await self._producer.send_and_wait(
            topics.REFIRES,
            request.model_dump_json().encode(),
            key=str(request.postback.id).encode(),
        )
