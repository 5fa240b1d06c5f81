"""The broker's side of a refusal, through the delivery reports librdkafka calls: a record
refused for what it is (perhaps with its batch) is sent again unchanged, then slimmed down; a
slimmed one refused too, or any unforeseen error in a report, stops the engine so its input is
consumed again. Every report ends its output exactly once. On the real broker: the reports
are called as librdkafka calls them, with the refusal it would report."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from confluent_kafka import KafkaError, Message

from dispatcher.kafka_publisher import KafkaPublisher
from dispatcher.offsets import OffsetTracker, Partition, PartitionProgress
from dispatcher.outputs import Outputs
from postbacks import topics
from postbacks.kafka_admin import ensure_topics
from postbacks.kafka_connection import KafkaConnection
from tests.dispatcher.attempts import failed_attempt
from tests.kafka_topics import read_topic

TOO_LARGE = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "Broker: Message size too large")


@pytest.fixture
async def outputs(kafka_bootstrap: str) -> AsyncIterator[Outputs]:
    await ensure_topics(KafkaConnection(kafka_bootstrap))
    publisher = KafkaPublisher(KafkaConnection(kafka_bootstrap))
    outputs = Outputs(publisher)
    await publisher.start()
    await outputs.start()
    yield outputs
    await publisher.stop()


def one_input() -> tuple[OffsetTracker, PartitionProgress]:
    """The account of one admitted input with one output pending, and its progress."""
    tracker = OffsetTracker()
    return tracker, tracker.begin(Partition(topics.CONVERSIONS, 0), 0, 1)


def refused(value: bytes) -> Message:
    return Message(topic=topics.ATTEMPTS, value=value)


async def stored(bootstrap: str) -> list[dict[str, object]]:
    records = [m for p in range(6) for m in await read_topic(bootstrap, topics.ATTEMPTS, p)]
    return [orjson.loads(m.value) for m in records]


async def test_a_record_refused_once_is_sent_again_unchanged(
    outputs: Outputs, kafka_bootstrap: str
) -> None:
    tracker, progress = one_input()
    attempt = failed_attempt("the publisher's answer")
    outputs._acked((progress, 0), TOO_LARGE, refused(attempt.to_json()))
    await outputs.flush(10)
    assert (outputs.failure, tracker.pending, progress.committable()) == (None, 0, 1)
    [record] = await stored(kafka_bootstrap)
    assert record["server_response"] == "the publisher's answer"  # unchanged


async def test_a_record_refused_twice_is_slimmed_down_and_its_input_committed(
    outputs: Outputs, kafka_bootstrap: str
) -> None:
    tracker, progress = one_input()  # its record was refused once and sent again: now its report
    value = failed_attempt("x" * 4000).to_json()
    outputs._reported(outputs._sent_again, (progress, 0), TOO_LARGE, refused(value))
    await outputs.flush(10)
    assert (outputs.failure, tracker.pending, progress.committable()) == (None, 0, 1)
    slim = [r for r in await stored(kafka_bootstrap) if r["server_response"] == ""]
    assert len(slim) == 1
    assert str(slim[0]["error"]).endswith("(Broker: Message size too large)")


async def test_a_slimmed_record_refused_too_stops_the_engine_and_commits_nothing(
    outputs: Outputs,
) -> None:
    tracker, progress = one_input()
    outputs._last((progress, 0), TOO_LARGE, refused(b"{}"))
    assert outputs.failure is not None
    assert "Message size too large" in str(outputs.failure)
    assert tracker.pending == 0
    assert progress.committable() == 0  # the input is consumed again after the restart


async def test_an_unforeseen_error_in_a_report_stops_the_engine_and_ends_its_output(
    outputs: Outputs,
) -> None:
    tracker, progress = one_input()
    # Refused, and its value is not an attempt record: slimming it down cannot work.
    outputs._acked((progress, 0), TOO_LARGE, refused(b"not json"))
    assert outputs.failure is not None
    assert tracker.pending == 0
    assert progress.committable() == 0
