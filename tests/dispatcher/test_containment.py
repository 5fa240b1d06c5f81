"""The dispatcher's containment rule on the real broker: what no check foresaw becomes a recorded
outcome (a Failed attempt, a dead letter, a skipped configuration), the offsets are committed,
and the service keeps consuming."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from dispatcher import delivery
from dispatcher.kafka_publisher import KafkaPublisher
from dispatcher.offsets import OffsetTracker, Partition
from dispatcher.outputs import Outputs
from dispatcher.rendering import render
from postbacks import topics
from postbacks.kafka_admin import ensure_topics
from postbacks.kafka_connection import KafkaConnection
from tests.dispatcher import hostile
from tests.dispatcher.attempts import failed_attempt
from tests.dispatcher.stack import attempts, committed_total, config, dispatcher, publish, settings
from tests.kafka_topics import read_topic


def contained(service: str, stage: str) -> float:
    labels = {"service": service, "stage": stage}
    return REGISTRY.get_sample_value("postbacks_contained_errors_total", labels) or 0.0


async def test_an_unforeseen_error_while_firing_is_a_failed_attempt_and_commits(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def render_with_a_bug(config: Any, message: Any, attempt_id: str) -> Any:
        if message.transaction_id == "tx-1-1":
            raise RuntimeError("a rendering bug")
        return render(config, message, attempt_id)

    monkeypatch.setattr(delivery, "render", render_with_a_bug)
    async with hostile.serve(hostile.healthy) as ok:
        configs = [config(f"http://ok.test:{ok.port}/pb?tx={{transaction_id}}", 1)]
        await publish(kafka_bootstrap, configs, [1, 1, 1])
        before = contained("dispatcher", "delivery")
        async with dispatcher(settings(kafka_bootstrap)) as task:
            found = {a["transaction_id"]: a for a in await attempts(kafka_bootstrap, 3)}
            assert [found[f"tx-1-{i}"]["status"] for i in range(3)] == [
                "Success",
                "Failed",
                "Success",
            ]
            failed = found["tx-1-1"]
            assert failed["response_code"] == 0
            assert failed["error"] == "delivery: unexpected RuntimeError: a rendering bug"
            assert failed["url"] == configs[0].url  # as configured: rendering is what failed
            for _ in range(100):
                if await committed_total(kafka_bootstrap, "postbacks-dispatcher") == 3:
                    break
                await asyncio.sleep(0.1)
            assert await committed_total(kafka_bootstrap, "postbacks-dispatcher") == 3
            assert not task.done()
    assert contained("dispatcher", "delivery") - before == 1


async def test_an_unusable_configuration_and_its_test_fire_do_not_stop_the_others(
    kafka_bootstrap: str,
) -> None:
    async with hostile.serve(hostile.healthy) as ok:
        healthy = config(f"http://ok.test:{ok.port}/pb?tx={{transaction_id}}", 7)
        # Written by another tool, or before the URL check existed: a port past 65535.
        broken = healthy.model_dump(mode="json") | {
            "id": str(uuid.uuid4()), "url": "http://ok.test:99999/pb", "publisher_id": 7,
        }  # fmt: skip
        await ensure_topics(KafkaConnection(kafka_bootstrap))
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(
                topics.CONFIGS, orjson.dumps(broken), key=broken["id"].encode()
            )
            await producer.send_and_wait(topics.CONFIGS, b"{not json", key=b"not-a-uuid")
            test_fire = {
                "attempt_id": str(uuid.uuid4()), "trigger": "test", "postback": broken,
                "source": '{"transaction_id": "t", "offer_id": 1, "publisher_id": 7}',
            }  # fmt: skip
            await producer.send_and_wait(topics.REFIRES, orjson.dumps(test_fire))
        finally:
            await producer.stop()
        before = contained("dispatcher", "configuration")
        await publish(kafka_bootstrap, [healthy], [7, 7])
        async with dispatcher(settings(kafka_bootstrap)) as task:
            found = await attempts(kafka_bootstrap, 2)
            assert [a["status"] for a in found] == ["Success", "Success"]
            assert {a["postback_id"] for a in found} == {str(healthy.id)}
            letters = [orjson.loads(r.value) for r in await read_topic(kafka_bootstrap, topics.DLQ)]
            for _ in range(50):
                if letters:
                    break
                await asyncio.sleep(0.1)
                letters = [
                    orjson.loads(r.value) for r in await read_topic(kafka_bootstrap, topics.DLQ)
                ]
            assert [letter["topic"] for letter in letters] == [topics.REFIRES]
            assert "port must be a number from 1 to 65535" in letters[0]["reason"]
            assert not task.done()
        assert contained("dispatcher", "configuration") - before == 2


async def test_an_attempt_record_the_broker_refuses_is_logged_slimmed_down(
    kafka_bootstrap: str,
) -> None:
    await ensure_topics(KafkaConnection(kafka_bootstrap))
    publisher = KafkaPublisher(KafkaConnection(kafka_bootstrap), message_max_bytes=4000)
    outputs = Outputs(publisher)
    await publisher.start()
    await outputs.start()
    tracker = OffsetTracker()
    progress = tracker.begin(Partition(topics.CONVERSIONS, 0), 0, 2)
    try:
        fits, too_large = failed_attempt("short answer"), failed_attempt("x" * 4000)
        assert outputs.offer_attempt(fits, (progress, 0))
        assert outputs.offer_attempt(too_large, (progress, 0))
        await outputs.flush(10)
    finally:
        await publisher.stop()
    assert outputs.failure is None
    assert progress.committable() == 1  # both outputs of the input are done: committable
    assert tracker.pending == 0
    records = [m for p in range(6) for m in await read_topic(kafka_bootstrap, topics.ATTEMPTS, p)]
    stored = {r["attempt_id"]: r for r in (orjson.loads(m.value) for m in records)}
    assert stored[fits.attempt_id]["server_response"] == "short answer"
    slim = stored[too_large.attempt_id]
    assert slim["server_response"] == ""
    assert slim["source"] == ""
    assert slim["error"].startswith("HTTP 500 Internal Server Error; the broker refused")
    assert slim["response_code"] == 500
