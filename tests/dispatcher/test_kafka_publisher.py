"""The attempt producer: an acknowledgement is reported only for what the broker stored."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import KafkaError, Message

from dispatcher.kafka_publisher import KafkaPublisher, PublishTimeout
from postbacks.embedded_broker import free_port
from postbacks.kafka_admin import ensure_topics
from postbacks.kafka_connection import KafkaConnection
from postbacks.topics import TopicSpec
from tests.kafka_topics import read_topic


async def test_records_are_reported_done_once_stored(kafka: str) -> None:
    topic = f"publisher-test-{uuid.uuid4().hex[:8]}"
    await ensure_topics(KafkaConnection(kafka), [TopicSpec(topic, 2)])
    publisher = KafkaPublisher(KafkaConnection(kafka))
    await publisher.start()
    assert await publisher.partitions(topic) == 2
    reports: list[KafkaError | None] = []
    for i in range(50):
        await publisher.publish(topic, b"v%d" % i, report_into(reports), b"k", 1)
    await publisher.flush(10)
    await publisher.stop()
    assert reports == [None] * 50
    stored = await read_topic(kafka, topic, partition=1)
    assert [r.value for r in stored] == [b"v%d" % i for i in range(50)]


async def test_a_record_the_broker_never_took_is_reported_as_an_error_never_as_done() -> None:
    publisher = KafkaPublisher(KafkaConnection(f"127.0.0.1:{free_port()}"))  # nothing listens there
    await publisher.start()
    reports: list[KafkaError | None] = []
    await publisher.publish("publisher-test", b"v", report_into(reports))
    with pytest.raises(PublishTimeout, match=r"not acknowledged after 0\.5 s"):
        await publisher.flush(0.5)
    assert reports == []
    await publisher.stop(timeout_s=0.1)
    assert len(reports) == 1
    assert reports[0] is not None


async def test_a_full_queue_refuses_offers_and_makes_publish_wait() -> None:
    publisher = KafkaPublisher(
        KafkaConnection(f"127.0.0.1:{free_port()}"), queue_records=5
    )  # no broker there
    await publisher.start()
    reports: list[KafkaError | None] = []
    offered = [publisher.offer("publisher-test", b"v", report_into(reports)) for _ in range(8)]
    assert offered == [True] * 5 + [False] * 3  # refused, not dropped or raised
    with pytest.raises(TimeoutError):  # waits for room, which never comes
        await asyncio.wait_for(publisher.publish("publisher-test", b"v", report_into(reports)), 0.3)
    await publisher.stop(timeout_s=0.1)
    assert len(reports) == 5  # the queued ones, purged: reported as errors, never as done
    assert all(report is not None for report in reports)


def report_into(reports: list[KafkaError | None]) -> Callable[[KafkaError | None, Message], None]:
    return lambda error, _: reports.append(error)
