"""Wires the log-writer: a Kafka consumer of `postbacks.attempts`, ClickHouse, the DLQ producer.

The modules, in the order a record meets them:
  consuming.py   batches from Kafka; offsets committed only after the batch is stored
  validation.py  the cheap check: valid records pass through as bytes, invalid ones dead-lettered
  storing.py     replay check + INSERT, retried with backoff while ClickHouse is down
  dead_lettering.py  dead letters published before the commit; one too large is cut
  retention.py   TTLs from settings, applied at start
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from log_writer.consuming import BatchLoop
from log_writer.retention import apply_retention
from log_writer.settings import LogWriterSettings
from log_writer.storing import Backoff, BatchWriter
from postbacks import topics
from postbacks.kafka_probe import wait_for_kafka
from postbacks.ops_server import (
    Readiness,
    ReadinessCheck,
    broker_problem,
    ops_endpoints,
    store_problem,
)
from postbacks.store import Store
from postbacks.store.opening import ready_store

log = logging.getLogger(__name__)

ASSIGNMENT_TIMEOUT_S = 60.0


class LogWriter:
    """The log-writer as a component: `postbacks dev` runs it beside the query-api (one chDB)."""

    def __init__(self, settings: LogWriterSettings, store: Store) -> None:
        self._settings = settings
        self._store = store
        self._consumer = AIOKafkaConsumer(
            **settings.kafka.aiokafka(),
            client_id="log-writer",
            group_id=settings.log_writer_group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=settings.log_writer_partition_fetch_bytes,
            fetch_max_bytes=max(52_428_800, settings.log_writer_partition_fetch_bytes),
            session_timeout_ms=settings.log_writer_session_timeout_ms,
            heartbeat_interval_ms=settings.log_writer_session_timeout_ms // 3,
        )
        # Not idempotent: the embedded broker (Tansu) does not support it (design §2).
        # Dead letters are attempt records: lz4, as the dispatcher writes them (bench/README.md).
        self._producer = AIOKafkaProducer(
            **settings.kafka.aiokafka(), client_id="log-writer", compression_type="lz4"
        )
        self.loop = BatchLoop(
            self._consumer,
            self._producer,
            BatchWriter(
                store, Backoff(settings.log_writer_retry_initial_s, settings.log_writer_retry_max_s)
            ),
            max_batch=settings.log_writer_max_batch,
            batch_timeout_ms=settings.log_writer_batch_timeout_ms,
        )
        self._task: asyncio.Task[None] | None = None
        self.running = False

    async def start(self) -> None:
        """Ready the store (opening.py: the schema applied on chDB, checked on a server), join
        the group; returns once partitions are assigned."""
        await ready_store(self._store, self._settings)
        if not self._settings.clickhouse_url:
            # This process owns the embedded engine's schema; a server's retention is set by
            # `postbacks migrate`, as a schema change the service's account may not make.
            await apply_retention(
                self._store, self._settings.log_retention_days, self._settings.rollup_retention_days
            )
        await wait_for_kafka(self._settings.kafka)  # waits, or refuses naming the setting
        await self._producer.start()
        await self._consumer.start()
        self._consumer.subscribe([topics.ATTEMPTS], listener=self.loop)
        self._task = asyncio.create_task(self.loop.run(), name="log-writer")
        deadline = time.monotonic() + ASSIGNMENT_TIMEOUT_S
        while not self._consumer.assignment():
            if self._task.done():
                self._task.result()  # raises what stopped the loop
            if time.monotonic() > deadline:
                raise TimeoutError(f"no partitions of {topics.ATTEMPTS} assigned in 60 s")
            await asyncio.sleep(0.05)
        self.running = True

    async def stop(self) -> None:
        self.running = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()
        await self._producer.stop()

    async def wait(self) -> None:
        """Until the consumer loop ends: cancelled, or an unexpected error (raised here)."""
        if self._task is not None:
            await self._task

    async def ready(self) -> str | None:
        """Whether the consumer loop runs; cheap (no network), so callers may poll it."""
        if self._task is not None and self._task.done():
            return "log-writer stopped consuming"
        return None if self.running else "log-writer not consuming yet"

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        """What /readyz asks when the log-writer runs alone: the loop, Kafka and ClickHouse."""

        async def broker() -> str | None:
            # Through the dead-letter producer, whose client aiokafka makes public; it reaches the
            # same brokers as the consumer.
            return await broker_problem(self._producer) if self.running else "not connected yet"

        async def store() -> str | None:
            return await store_problem(self._store)

        return {"log-writer": self.ready, "broker": broker, "store": store}


async def run_log_writer(settings: LogWriterSettings, store: Store) -> None:
    """The log-writer alone (production): its own process, its own ops port."""
    writer = LogWriter(settings, store)
    try:
        readiness = Readiness(writer.readiness_checks())
        async with ops_endpoints(readiness, settings.log_writer_port, settings.ops_host):
            await writer.start()
            log.info("log-writer consuming %s from %s", topics.ATTEMPTS, settings.bootstrap)
            await writer.wait()
    finally:
        await writer.stop()
