"""Wires the dispatcher: configuration follower, Kafka consumer and producer, HTTP client.

Offsets of input topics are committed only after every attempt of the batch has been published
(FastStream acks the batch when the handler returns), so a crash re-fires rather than loses:
delivery is at least once (design §5).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from dispatcher.config_follower import ConfigFollower
from dispatcher.config_table import ConfigTable
from dispatcher.delivery import Deliverer, build_client
from dispatcher.processing import BatchOutcome, BatchProcessor
from dispatcher.settings import DispatcherSettings
from postbacks import topics
from postbacks.dead_letters import KafkaRecord
from postbacks.kafka_clients import faststream_broker, raw_body
from postbacks.ops_server import ops_endpoints

log = logging.getLogger(__name__)


async def publish_outcome(broker: KafkaBroker, outcome: BatchOutcome) -> None:
    sends = [
        await broker.publish(
            a.model_dump_json().encode(),
            topics.ATTEMPTS,
            key=a.attempt_id.bytes,
            no_confirm=True,
        )
        for a in outcome.attempts
    ]
    sends += [await broker.publish(d, topics.DLQ, no_confirm=True) for d in outcome.dead_letters]
    await asyncio.gather(*sends)


def build_broker(settings: DispatcherSettings, processor: BatchProcessor) -> KafkaBroker:
    broker = faststream_broker(settings.bootstrap, client_id="dispatcher")

    @broker.subscriber(
        *topics.INPUT_TOPICS,
        topics.REFIRES,
        group_id=settings.dispatcher_group_id,
        batch=True,
        max_records=settings.dispatcher_max_batch,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=raw_body,
    )
    async def handle_inputs(body: Any, message: KafkaMessage) -> None:
        records: Sequence[KafkaRecord] = message.raw_message
        await publish_outcome(broker, await processor.process(records))

    return broker


async def run_dispatcher(settings: DispatcherSettings) -> None:
    """Run until cancelled; the ops endpoints answer ready once inputs are being consumed."""
    table = ConfigTable()
    follower = ConfigFollower(settings.bootstrap, table)
    client = build_client()
    broker = build_broker(
        settings, BatchProcessor(table, Deliverer(client), settings.dispatcher_concurrency)
    )
    started = False

    async def ready() -> str | None:
        if not started:
            return "starting: loading configurations and joining the consumer group"
        if not follower.running:
            return "configuration follower stopped"
        return None

    try:
        async with ops_endpoints(ready, settings.dispatcher_port, settings.ops_host):
            await follower.start()
            await broker.start()
            started = True
            log.info(
                "dispatcher consuming %s from %s",
                ", ".join(topics.INPUT_TOPICS),
                settings.bootstrap,
            )
            await asyncio.Event().wait()
    finally:
        await broker.stop()
        await follower.stop()
        await client.aclose()
