"""Retry policy and delay (issue 9 item 5) in the delivery engine, on the real embedded broker
against real local servers: every attempt is its own record with its number, a waiting retry
holds no HTTP slot and keeps its input uncommitted, and a shutdown abandons what cannot fire
in time without committing it."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import pytest

from dispatcher import metrics
from dispatcher.resolver import StaticResolver
from postbacks.configs import PostbackConfig
from tests.dispatcher import hostile
from tests.dispatcher.configs import stamped
from tests.dispatcher.scraped import gauge
from tests.dispatcher.scripted import Scripted
from tests.dispatcher.stack import attempts, committed_total, dispatcher, publish, settings
from tests.waiting import until

# refused.test resolves to a private address: the guard refuses it before any connection.
RESOLVER = StaticResolver({"pub.test": ["127.0.0.1"], "refused.test": ["10.0.0.1"]})


def config(url: str, publisher_id: int, **fields: Any) -> PostbackConfig:
    return stamped(
        **{
            "name": f"pub-{publisher_id}",
            "url": url,
            "publisher_id": publisher_id,
            "timeout_ms": 2000,
            **fields,
        }
    )


def ms(attempt: dict[str, Any]) -> float:
    return datetime.fromisoformat(attempt["attempted_at"]).timestamp() * 1000


def by_number(found: list[dict[str, Any]], tx: str) -> list[dict[str, Any]]:
    return sorted(
        (a for a in found if a["transaction_id"] == tx), key=lambda a: a["attempt_number"]
    )


async def test_503_twice_then_200_is_three_numbered_attempts_without_holding_a_slot(
    kafka_bootstrap: str,
) -> None:
    flaky = "tx-1-0"
    server = Scripted(
        {flaky: [b"503 Service Unavailable\r\nRetry-After: 1", b"503 Nope", b"200 OK"]}
    )
    retries_before = metrics.RETRIES._value.get()
    async with hostile.serve(server) as pub:
        url = f"http://pub.test:{pub.port}/pb?tx={{transaction_id}}"
        policy = {"retry_max_attempts": 3, "retry_initial_delay_ms": 200}
        configs = [config(url, 1, **policy, retry_max_delay_ms=2000), config(url, 2)]
        # One slot for the host: a retry that held it would hold up publisher 2's postbacks.
        await publish(kafka_bootstrap, configs, [1, 2, 2, 2, 2, 2])
        config_ = settings(kafka_bootstrap, dispatcher_max_in_flight_per_host=1)
        async with dispatcher(config_, RESOLVER):
            found = await attempts(kafka_bootstrap, 8)
            group = config_.dispatcher_group_id

            async def all_committed() -> bool:
                return await committed_total(kafka_bootstrap, group) == 6

            await until(all_committed)
    tries = by_number(found, flaky)
    assert [a["attempt_number"] for a in tries] == [1, 2, 3]
    assert [a["status"] for a in tries] == ["Failed", "Failed", "Success"]
    assert [a["response_code"] for a in tries] == [503, 503, 200]
    assert len({a["attempt_id"] for a in tries}) == 3  # every attempt its own record
    # Retry-After: 1 is honoured (within the 2000 ms cap); then the backoff of the second retry:
    # 200 ms doubled, with equal jitter, so 200 to 400 ms. The upper bounds allow for a loaded
    # machine, not for another policy.
    first_wait, second_wait = ms(tries[1]) - ms(tries[0]), ms(tries[2]) - ms(tries[1])
    assert 1000 <= first_wait < 1900, first_wait
    assert 200 <= second_wait < 1100, second_wait
    others = [a for a in found if a["transaction_id"] != flaky]
    assert [a["status"] for a in others] == ["Success"] * 5
    assert {a["attempt_number"] for a in others} == {1}
    assert max(ms(a) for a in others) < ms(tries[1])  # served while the retry waited
    assert metrics.RETRIES._value.get() - retries_before == 2


async def test_only_retryable_outcomes_of_policies_that_ask_are_retried(
    kafka_bootstrap: str,
) -> None:
    server = Scripted({"tx-1-0": [b"404 Not Found"], "tx-3-2": [b"503 Service Unavailable"]})
    async with hostile.serve(server) as pub:
        url = f"http://pub.test:{pub.port}/pb?tx={{transaction_id}}"
        policy = {"retry_max_attempts": 5, "retry_initial_delay_ms": 100}
        configs = [
            config(url, 1, **policy),  # answers 404: not retried
            config("http://refused.test/pb", 2, **policy),  # refused by the guard: not retried
            config(url, 3),  # answers 503, but retries are off by default
        ]
        await publish(kafka_bootstrap, configs, [1, 2, 3])
        config_ = settings(kafka_bootstrap)
        async with dispatcher(config_, RESOLVER):
            group = config_.dispatcher_group_id

            # A scheduled retry would keep its input uncommitted until its own attempt is
            # acknowledged: all three committed means no retry is waiting.
            async def all_committed() -> bool:
                return await committed_total(kafka_bootstrap, group) == 3

            await until(all_committed)
            found = await attempts(kafka_bootstrap, 3)
    assert sorted((a["publisher_id"], a["response_code"], a["attempt_number"]) for a in found) == [
        (1, 404, 1),
        (2, 0, 1),
        (3, 503, 1),
    ]
    refused = next(a for a in found if a["publisher_id"] == 2)
    assert refused["error"].startswith("destination refused by the guard")
    assert pub.requests == 2


async def test_a_delay_fires_no_earlier_than_configured(kafka_bootstrap: str) -> None:
    server = Scripted({})
    async with hostile.serve(server) as pub:
        url = f"http://pub.test:{pub.port}/pb?tx={{transaction_id}}"
        published_at = time.time() * 1000
        await publish(kafka_bootstrap, [config(url, 1, delay_ms=1500)], [1])
        async with dispatcher(settings(kafka_bootstrap), RESOLVER):
            found = await attempts(kafka_bootstrap, 1)
    assert [(a["status"], a["attempt_number"]) for a in found] == [("Success", 1)]
    assert ms(found[0]) - published_at >= 1500
    assert server.seen[0][0] * 1000 - published_at >= 1500


async def test_the_offset_waits_for_the_last_attempt_and_shutdown_abandons_a_late_retry(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = Scripted({"tx-1-0": [b"500 Internal Server Error\r\nRetry-After: 60"]})
    async with hostile.serve(server) as pub:
        url = f"http://pub.test:{pub.port}/pb?tx={{transaction_id}}"
        policy = {"retry_max_attempts": 3, "retry_max_delay_ms": 60_000}
        await publish(kafka_bootstrap, [config(url, 1, **policy)], [1])
        config_ = settings(kafka_bootstrap, dispatcher_shutdown_grace_s=2)
        group = config_.dispatcher_group_id
        async with dispatcher(config_, RESOLVER):
            found = await attempts(kafka_bootstrap, 1)
            assert [a["attempt_number"] for a in found] == [1]

            async def waiting() -> bool:
                return bool(gauge("postbacks_dispatcher_timed_waits") == 1)

            await until(waiting)
            # Several commit intervals (0.5 s) pass with the retry waiting: nothing committed.
            for _ in range(4):
                assert await committed_total(kafka_bootstrap, group) == 0
                await asyncio.sleep(0.5)
            stopping = time.monotonic()
        # The retry was due in 60 s, past the 2 s grace: abandoned at once, not waited for.
        assert time.monotonic() - stopping < 2
        assert await committed_total(kafka_bootstrap, group) == 0
        assert pub.requests == 1
    assert "1 postbacks waiting for a delay or retry due after the 2.0 s grace" in caplog.text
    assert gauge("postbacks_dispatcher_timed_waits") == 0


async def test_a_retry_due_within_the_grace_period_still_fires_at_shutdown(
    kafka_bootstrap: str,
) -> None:
    server = Scripted({"tx-1-0": [b"503 Service Unavailable\r\nRetry-After: 1", b"200 OK"]})
    async with hostile.serve(server) as pub:
        url = f"http://pub.test:{pub.port}/pb?tx={{transaction_id}}"
        await publish(kafka_bootstrap, [config(url, 1, retry_max_attempts=2)], [1])
        config_ = settings(kafka_bootstrap, dispatcher_shutdown_grace_s=5)
        async with dispatcher(config_, RESOLVER):
            await attempts(kafka_bootstrap, 1)
        # Stopped while the retry waited: the drain let it fire, then committed the input.
        found = await attempts(kafka_bootstrap, 2)
        assert await committed_total(kafka_bootstrap, config_.dispatcher_group_id) == 1
        assert pub.requests == 2
    assert [(a["attempt_number"], a["status"]) for a in by_number(found, "tx-1-0")] == [
        (1, "Failed"),
        (2, "Success"),
    ]
