"""The delivery engine on the real embedded broker, against real local (and hostile) servers.

Counts, not timings: a healthy publisher gets every one of its postbacks while hostile ones are
configured; a shutdown finishes what is in flight and commits exactly what was published; the
bound of admitted postbacks pauses consumption.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prometheus_client import REGISTRY

from dispatcher import metrics
from postbacks import topics
from tests.dispatcher import hostile
from tests.dispatcher.scraped import gauge
from tests.dispatcher.stack import attempts, committed_total, config, dispatcher, publish, settings


async def test_a_healthy_publisher_gets_everything_while_hostile_ones_hang_and_drip(
    kafka_bootstrap: str,
) -> None:
    async with (
        hostile.serve(hostile.healthy) as ok,
        hostile.serve(hostile.hangs) as hang,
        hostile.serve(hostile.drips) as drip,
    ):
        configs = [
            config(f"http://ok.test:{ok.port}/pb?tx={{transaction_id}}", 1),
            config(f"http://hang.test:{hang.port}/pb", 2),
            config(f"http://drip.test:{drip.port}/pb", 3),
        ]
        inputs = [1, 1, 1, 2, 3] * 100  # 300 healthy, 100 to each hostile publisher
        await publish(kafka_bootstrap, configs, inputs)
        limits = {
            "dispatcher_max_in_flight_per_host": 4,
            "dispatcher_max_waiting_per_host": 8,
            # A line that takes longer than this to drain marks its host stuck: with 300 ms
            # timeouts and 4 slots, 8 waiting take 0.6 s, so the hostile hosts' overflow is
            # failed unsent, while the healthy host's full line only makes the consumer wait.
            "dispatcher_max_line_wait_s": 0.2,
        }
        consumed_before = metrics.INPUTS.labels(topics.CONVERSIONS)._value.get()
        async with dispatcher(settings(kafka_bootstrap, **limits)):
            found = await attempts(kafka_bootstrap, len(inputs))
        consumed = metrics.INPUTS.labels(topics.CONVERSIONS)._value.get() - consumed_before
    by_publisher: dict[int, list[dict[str, Any]]] = {1: [], 2: [], 3: []}
    for attempt in found:
        by_publisher[attempt["publisher_id"]].append(attempt)
    assert [a["status"] for a in by_publisher[1]] == ["Success"] * 300
    assert ok.requests == 300
    for publisher_id, host in ((2, "hang.test"), (3, "drip.test")):
        hostile_attempts = by_publisher[publisher_id]
        assert len(hostile_attempts) == 100
        assert {a["response_code"] for a in hostile_attempts} == {0}
        # Each was tried until its timeout or failed at once because its host's line was full;
        # never more than 4 at a time reached the hostile server.
        errors = {
            a["error"].split(" ", 2)[0] + " " + a["error"].split(" ", 2)[1]
            for a in hostile_attempts
        }
        assert errors <= {"timeout: no", "not sent:"}, errors
        assert any(a["error"].startswith(f"not sent: {host}") for a in hostile_attempts)
    assert hang.requests + drip.requests <= 200
    # The metrics saw the same (counters are per process, so at least these many).
    assert attempt_count("Success", "2xx") >= 300
    assert attempt_count("Failed", "none") >= 200
    assert metrics.SHED._value.get() >= 1
    lag = {s.labels["partition"] for m in metrics.CONSUMER_LAG.collect() for s in m.samples}
    assert lag, "no consumer lag reported"
    assert consumed == len(inputs)  # counted per fetched batch, each input once


def attempt_count(status: str, response_class: str) -> float:
    labels = {"status": status, "postback_type": "Conversion", "trigger": "auto"}
    labels["response_class"] = response_class
    return REGISTRY.get_sample_value("postbacks_attempts_total", labels) or 0.0


async def test_shutdown_finishes_in_flight_postbacks_and_commits_what_was_published(
    kafka_bootstrap: str,
) -> None:
    async with hostile.serve(hostile.answers_after(0.2)) as server:
        await publish(
            kafka_bootstrap, [config(f"http://ok.test:{server.port}/pb", 1, 2000)], [1] * 200
        )
        config_ = settings(
            kafka_bootstrap, dispatcher_max_in_flight_per_host=4, dispatcher_max_pending=8
        )
        async with dispatcher(config_):
            deadline = time.monotonic() + 30
            while server.requests < 10 and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        # Cancelled (as by SIGTERM) mid-stream: what was sent got its answer and its attempt.
        found = await attempts(kafka_bootstrap, server.requests, timeout_s=5)
        sent = server.requests
    assert 10 <= sent < 200
    assert len(found) == sent
    assert {a["status"] for a in found} == {"Success"}
    # Committed: exactly the inputs whose attempts are on the topic, no more, no fewer.
    assert await committed_total(kafka_bootstrap, config_.dispatcher_group_id) == len(found)


async def test_the_bound_of_admitted_postbacks_pauses_consumption(kafka_bootstrap: str) -> None:
    async with hostile.serve(hostile.answers_after(0.02)) as server:
        await publish(kafka_bootstrap, [config(f"http://ok.test:{server.port}/pb", 1)], [1] * 120)
        config_ = settings(
            kafka_bootstrap, dispatcher_max_in_flight_per_host=3, dispatcher_max_pending=6
        )
        peak_in_flight, paused_seen = 0.0, False
        async with dispatcher(config_):
            deadline = time.monotonic() + 30
            while server.requests < 120 and time.monotonic() < deadline:
                peak_in_flight = max(peak_in_flight, gauge("postbacks_dispatcher_in_flight"))
                paused_seen = paused_seen or metrics.PAUSED._value.get() == 1
                await asyncio.sleep(0.005)
            found = await attempts(kafka_bootstrap, 120)
    assert len(found) == 120
    assert paused_seen
    assert peak_in_flight <= 3
