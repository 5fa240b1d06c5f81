"""The delivery benchmark's input, put on a fresh embedded broker the way production gets it:
configurations on the compacted `postbacks.configs` topic (as the query-api publishes them),
then N conversions on `conversions`, before any dispatcher starts.

Publisher i (0-based) has one Conversion postback scoped to it; conversion k belongs to
publisher k mod P, so each conversion fires exactly one postback.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from postbacks import topics
from postbacks.attempts import PostbackType
from postbacks.configs import PostbackConfig, PostbackConfigIn
from postbacks.kafka_admin import ensure_topics
from postbacks.kafka_connection import KafkaConnection
from query_api.dispatcher_publisher import DispatcherPublisher

# Publisher ids start here so they look like a network's, not like list indexes.
FIRST_PUBLISHER_ID = 1000
URL_TEMPLATE = (
    "http://127.0.0.1:{port}/pb/{index}?click={{transaction_id}}&payout={{payout}}"
    "&pub={{publisher_id}}&offer={{offer_id}}&s1={{sub1}}&aid={{attempt_id}}"
)


@dataclass(frozen=True)
class Publishers:
    """Which port each publisher's postback calls, and which publishers are hanging ones."""

    ports: list[int]  # index i: the port publisher FIRST_PUBLISHER_ID + i calls
    hanging: frozenset[int]  # publisher ids whose port never answers

    @classmethod
    def spread(cls, count: int, healthy_ports: list[int], hanging_ports: list[int]) -> Publishers:
        """The first len(hanging_ports) publishers hang, one port each; the rest share nginx's
        ports round-robin."""
        ports = [
            hanging_ports[i] if i < len(hanging_ports) else healthy_ports[i % len(healthy_ports)]
            for i in range(count)
        ]
        hanging = frozenset(FIRST_PUBLISHER_ID + i for i in range(len(hanging_ports)))
        return cls(ports, hanging)

    def publisher_of(self, conversion: int) -> int:
        return FIRST_PUBLISHER_ID + conversion % len(self.ports)

    def expected_healthy(self, conversions: int) -> int:
        return sum(1 for k in range(conversions) if self.publisher_of(k) not in self.hanging)


def configurations(publishers: Publishers, timeout_ms: int | None) -> list[PostbackConfig]:
    now = datetime.now(UTC)
    configs = []
    for index, port in enumerate(publishers.ports):
        fields = PostbackConfigIn.model_validate(
            {
                "name": f"bench publisher {FIRST_PUBLISHER_ID + index}",
                "type": PostbackType.CONVERSION,
                "publisher_id": FIRST_PUBLISHER_ID + index,
                "url": URL_TEMPLATE.format(port=port, index=index),
                **_timeouts(timeout_ms),
            }
        )
        configs.append(
            PostbackConfig.stamp(fields, id=uuid.uuid4(), created_at=now, now=now, version=1)
        )
    return configs


def _timeouts(timeout_ms: int | None) -> dict[str, int]:
    """timeout_ms, and a connect timeout no longer than it where configurations have one."""
    if timeout_ms is None:
        return {}
    connect = PostbackConfigIn.model_fields.get("connect_timeout_ms")
    if connect is None or not isinstance(connect.default, int) or connect.default <= timeout_ms:
        return {"timeout_ms": timeout_ms}
    return {"timeout_ms": timeout_ms, "connect_timeout_ms": timeout_ms}


def conversion(k: int, publishers: Publishers) -> bytes:
    return json.dumps(
        {
            "transaction_id": f"bench-{k:09d}",
            "offer_id": 7 + k % 13,
            "publisher_id": publishers.publisher_of(k),
            "status": "approved",
            "payout": f"{1 + k % 50}.25",
            "currency": "USD",
            "sub1": f"camp{k % 97}",
        },
        separators=(",", ":"),
    ).encode()


async def load(
    bootstrap: str, publishers: Publishers, conversions: int, timeout_ms: int | None
) -> None:
    """Create the topics, publish the configurations, then the conversions; all acknowledged."""
    await ensure_topics(KafkaConnection(bootstrap))
    publisher = DispatcherPublisher(KafkaConnection(bootstrap))
    await publisher.start()
    try:
        await publisher.publish_all(configurations(publishers, timeout_ms))
    finally:
        await publisher.stop()
    # Large batches and a short linger: preloading is setup, not what is measured.
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=1 << 20
    )
    await producer.start()
    try:
        pending = []
        for k in range(conversions):
            pending.append(
                await producer.send(
                    topics.CONVERSIONS, conversion(k, publishers), key=f"bench-{k:09d}".encode()
                )
            )
            if len(pending) >= 10_000:
                for sent in pending:
                    await sent
                pending.clear()
        for sent in pending:
            await sent
    finally:
        await producer.stop()
