"""Follows the compacted `postbacks.configs` topic into a ConfigTable.

It reads the topic from the beginning without a consumer group (every dispatcher needs every
configuration), and `start()` returns only once the table holds everything published before the
dispatcher started, so no input is matched against a half-loaded table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from dispatcher.config_table import ConfigTable
from postbacks import topics
from postbacks.containment import contained, record_name
from postbacks.kafka_connection import KafkaConnection

log = logging.getLogger(__name__)


class ConfigFollower:
    def __init__(self, kafka: KafkaConnection, table: ConfigTable) -> None:
        self._table = table
        self._consumer = AIOKafkaConsumer(
            **kafka.aiokafka(), group_id=None, enable_auto_commit=False
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        await self._consumer.topics()  # loads metadata so partitions are known
        partitions = self._consumer.partitions_for_topic(topics.CONFIGS)
        if not partitions:
            raise RuntimeError(f"topic {topics.CONFIGS} does not exist; create the topics first")
        assigned = [TopicPartition(topics.CONFIGS, p) for p in sorted(partitions)]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_beginning(*assigned)
        end = await self._consumer.end_offsets(assigned)
        while not await self._reached(end):
            await self._apply_next()
        log.info("loaded %d postback configurations", len(self._table))
        self._task = asyncio.create_task(self._follow(), name="config-follower")

    async def _reached(self, end: dict[TopicPartition, int]) -> bool:
        for partition, end_offset in end.items():
            if await self._consumer.position(partition) < end_offset:
                return False
        return True

    async def _apply_next(self) -> None:
        batches = await self._consumer.getmany(timeout_ms=200)
        for records in batches.values():
            for record in records:
                # The one place a configuration record is contained: skipped, never fatal.
                try:
                    self._table.apply(record.key, record.value)
                except Exception as exc:  # see postbacks.containment
                    where = record_name(record.topic, record.partition, record.offset)
                    contained("dispatcher", "configuration", where, exc)

    async def _follow(self) -> None:
        while True:
            await self._apply_next()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()
