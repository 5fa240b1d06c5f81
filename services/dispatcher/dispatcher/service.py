"""Wires the dispatcher: configuration follower, input consumer, attempt producer, HTTP client.

The input consumer and the attempt producer are librdkafka's (kafka_inputs.py,
kafka_publisher.py), not FastStream's: the engine needs pause()/resume() for backpressure and
per-partition commits of exactly the offsets whose attempts the broker has acknowledged, which
FastStream's ack-per-batch cannot express, and librdkafka does the Kafka protocol in its own
threads, off the busy event loop.

Start-up waits for Kafka to accept a connection through both libraries (kafka_probe.py) before
any client is built: a broker not up yet is waited for, one that refuses the configured CA,
certificate or password stops the dispatcher naming the setting.

SIGTERM (cancellation of `run_dispatcher`) stops fetching, lets in-flight postbacks finish for
`dispatcher_shutdown_grace_s`, publishes their attempts, commits, and returns.
"""

from __future__ import annotations

import asyncio
import gc
import logging

from dispatcher.config_follower import ConfigFollower
from dispatcher.config_table import ConfigTable
from dispatcher.delivery import Deliverer
from dispatcher.engine import DeliveryEngine
from dispatcher.guard import DestinationGuard
from dispatcher.http_client import PostbackHttpClient
from dispatcher.kafka_inputs import KafkaInputs
from dispatcher.kafka_probe import wait_for_kafka
from dispatcher.kafka_publisher import KafkaPublisher
from dispatcher.resolver import Resolver, SystemResolver
from dispatcher.settings import DispatcherSettings
from postbacks import topics
from postbacks.ops_server import Readiness, ops_endpoints

log = logging.getLogger(__name__)


def build_consumer(settings: DispatcherSettings) -> KafkaInputs:
    return KafkaInputs(settings.kafka, settings.dispatcher_group_id)


def build_producer(settings: DispatcherSettings) -> KafkaPublisher:
    return KafkaPublisher(settings.kafka)


async def run_dispatcher(settings: DispatcherSettings, resolver: Resolver | None = None) -> None:
    """Run until cancelled; /readyz answers ready while inputs are consumed and Kafka answers.

    `resolver` is the seam tests use to map names to loopback (or to refused addresses).
    """
    table = ConfigTable()
    http = PostbackHttpClient(DestinationGuard(settings.allowed), resolver or SystemResolver())
    # Built once Kafka accepts us (below); until then /readyz says the dispatcher is starting.
    follower: ConfigFollower | None = None
    producer: KafkaPublisher | None = None
    started = False

    async def consuming() -> str | None:
        if not started or follower is None:
            return "starting: reaching Kafka, loading configurations, joining the consumer group"
        if not follower.running:
            return "configuration follower stopped"
        return None

    async def broker() -> str | None:
        # Asked through the producer that publishes attempts: if it cannot reach the broker,
        # nothing this dispatcher fires can be logged or committed.
        return await producer.problem() if started and producer else "not connected yet"

    readiness = Readiness({"dispatcher": consuming, "broker": broker})
    try:
        async with ops_endpoints(readiness, settings.dispatcher_port, settings.ops_host):
            await wait_for_kafka(settings.kafka)
            follower = ConfigFollower(settings.kafka, table)
            consumer = build_consumer(settings)
            producer = build_producer(settings)
            engine = DeliveryEngine(consumer, producer, table, Deliverer(http), settings.limits)
            try:
                await follower.start()
                await producer.start()
                consumer.subscribe([*topics.INPUT_TOPICS, topics.REFIRES], engine.revoked)
                started = True
                # Start-up objects (modules, configurations, clients) never die: keep them out
                # of every collection. Each postback allocates a few hundred short-lived
                # objects, so a larger first generation means far fewer collections per second.
                gc.freeze()
                gc.set_threshold(50_000, 20, 100)
                log.info(
                    "dispatcher consuming %s from %s; guard allows %s",
                    ", ".join(topics.INPUT_TOPICS),
                    settings.bootstrap,
                    settings.allowed_networks,
                )
                try:
                    await engine.run()
                finally:
                    engine.stop()
                    drained = await engine.drain(settings.dispatcher_shutdown_grace_s)
                    log.info("dispatcher drained (%s)", "complete" if drained else "incomplete")
            finally:
                await asyncio.gather(consumer.close(), producer.stop(), return_exceptions=True)
                await follower.stop()
    finally:
        await http.close()
