"""Wires the log-writer: a batch consumer of `postbacks.attempts` that inserts into ClickHouse.

Offsets are committed only after the insert of the batch succeeded (FastStream acks when the
handler returns). If the insert fails the handler raises, FastStream seeks back, and the same
records are read again: nothing is lost, and a row written twice collapses in the
ReplacingMergeTree because it keeps its attempt_id and attempted_at.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from prometheus_client import Counter

from log_writer.rows import decode_batch
from log_writer.settings import LogWriterSettings
from postbacks import topics
from postbacks.kafka_clients import faststream_broker, raw_body
from postbacks.ops_server import ops_endpoints
from postbacks.store import Store
from postbacks.store.schema import apply_schema

log = logging.getLogger(__name__)

ROWS_WRITTEN = Counter("postbacks_log_writer_rows_total", "Attempt rows inserted into ClickHouse")
INSERT_FAILURES = Counter(
    "postbacks_log_writer_insert_failures_total", "Batches whose insert failed and will be re-read"
)
RETRY_PAUSE_S = 1.0


def build_log_writer(settings: LogWriterSettings, store: Store) -> KafkaBroker:
    broker = faststream_broker(settings.bootstrap, client_id="log-writer")

    @broker.subscriber(
        topics.ATTEMPTS,
        group_id=settings.log_writer_group_id,
        batch=True,
        max_records=settings.log_writer_max_batch,
        batch_timeout_ms=settings.log_writer_batch_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=raw_body,
    )
    async def write_attempts(body: Any, message: KafkaMessage) -> None:
        batch = decode_batch(message.raw_message)
        try:
            await store.insert_json("postback_attempts", batch.rows)
        except Exception:
            INSERT_FAILURES.inc()
            log.exception(
                "inserting %d attempt rows failed; they will be read again", len(batch.rows)
            )
            await asyncio.sleep(RETRY_PAUSE_S)  # do not spin against a store that is down
            raise
        ROWS_WRITTEN.inc(len(batch.rows))
        # Dead letters go out only once the batch is stored: a batch that is read again after a
        # failed insert must not dead-letter its bad records twice.
        sends = [await broker.publish(d, topics.DLQ, no_confirm=True) for d in batch.dead_letters]
        await asyncio.gather(*sends)

    return broker


class LogWriter:
    """The log-writer as a component: `postbacks dev` runs it beside the query-api (one chDB)."""

    def __init__(self, settings: LogWriterSettings, store: Store) -> None:
        self._store = store
        self._broker = build_log_writer(settings, store)
        self.running = False

    async def start(self) -> None:
        await apply_schema(self._store)
        await self._broker.start()  # returns once the consumer group has assigned partitions
        self.running = True

    async def stop(self) -> None:
        self.running = False
        await self._broker.stop()

    async def ready(self) -> str | None:
        return None if self.running else "log-writer not consuming yet"


async def run_log_writer(settings: LogWriterSettings, store: Store) -> None:
    """The log-writer alone (production): its own process, its own ops port."""
    writer = LogWriter(settings, store)
    try:
        async with ops_endpoints(writer.ready, settings.log_writer_port, settings.ops_host):
            await writer.start()
            log.info("log-writer consuming %s from %s", topics.ATTEMPTS, settings.bootstrap)
            await asyncio.Event().wait()
    finally:
        await writer.stop()
