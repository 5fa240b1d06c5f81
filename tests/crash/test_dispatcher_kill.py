"""kill -9 the dispatcher at random moments while conversions stream: every conversion still
has at least one attempt stored (delivery is at least once; design §5). The test reports how
many were fired twice: the ones in flight at a kill.

Real processes: `postbacks broker`, `postbacks dispatcher` (killed and restarted),
`postbacks log-writer`; a real local HTTP receiver answers the postbacks.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from postbacks import topics
from postbacks.configs import PostbackConfig, PostbackConfigIn
from postbacks.embedded_broker import free_port
from tests.crash.processes import (
    KillPoints,
    Service,
    broker_process,
    scraped,
    session_over,
    stored_attempts,
    stream_evenly,
    wait_until_ready,
)
from tests.e2e.receivers import Receiver, receiver
from tests.kafka_topics import group_lag, group_offsets
from tests.waiting import until, while_progressing

CONVERSIONS = int(os.environ.get("POSTBACKS_CRASH_CONVERSIONS", "20000"))
KILLS = 3
STREAM_S = 6.0
SLICES = 30
SESSION_S = 6.0  # session.timeout.ms of the dispatcher's input consumer (kafka_inputs.py)
DISPATCHER_GROUP, LOG_WRITER_GROUP = "postbacks-dispatcher", "postbacks-log-writer"  # defaults
STALL_S = 120.0  # how long the progress watched may stand still before the test gives up

pytestmark = pytest.mark.timeout(900)  # minutes under load; the waits inside fail sooner


async def publish_config(bootstrap: str, url: str) -> None:
    """One configuration on postbacks.configs, as the query-api publishes it."""
    now = datetime.now(UTC)
    config = PostbackConfig.stamp(
        PostbackConfigIn.model_validate({"name": "crash", "type": "Conversion", "url": url}),
        id=uuid.uuid4(),
        created_at=now,
        now=now,
        version=1,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.CONFIGS, config.model_dump_json().encode(), key=str(config.id).encode()
        )
    finally:
        await producer.stop()


async def stream_conversions(
    bootstrap: str, ids: list[str], seconds: float, holds: KillPoints
) -> None:
    records = [
        (tx.encode(), orjson.dumps({"transaction_id": tx, "offer_id": 1, "publisher_id": 42}))
        for tx in ids
    ]
    await stream_evenly(bootstrap, topics.CONVERSIONS, records, seconds, SLICES, holds)


async def firing(publisher: Receiver, before: int) -> None:
    """Until the publisher has received more than `before` requests."""
    await until(
        lambda: len(publisher.requests) > before, "the dispatcher firing", STALL_S, every_s=0.05
    )


async def inputs_and_attempts_lag(bootstrap: str) -> int:
    return await group_lag(bootstrap, DISPATCHER_GROUP, [topics.CONVERSIONS]) + await group_lag(
        bootstrap, LOG_WRITER_GROUP, [topics.ATTEMPTS]
    )


async def test_kill_9_the_dispatcher_every_conversion_is_still_attempted(tmp_path: Path) -> None:
    seed = int(os.environ.get("POSTBACKS_CRASH_SEED", str(time.time_ns())))
    rng = random.Random(seed)
    ids = [f"crash-{n}-{uuid.uuid4().hex[:8]}" for n in range(CONVERSIONS)]
    dispatcher_port, writer_port = free_port(), free_port()
    with receiver() as publisher, broker_process(tmp_path) as bootstrap:
        await publish_config(bootstrap, publisher.url("/ok") + "?tx={transaction_id}")
        common = {"POSTBACKS_KAFKA_BOOTSTRAP": bootstrap}
        dispatcher = Service(
            "dispatcher",
            {
                **common,
                "POSTBACKS_DISPATCHER_PORT": str(dispatcher_port),
                "POSTBACKS_ALLOWED_NETWORKS": "127.0.0.0/8",
            },
            tmp_path,
        )
        writer = Service(
            "log-writer",
            {
                **common,
                "POSTBACKS_DATA_DIR": str(tmp_path / "data"),
                "POSTBACKS_EMBEDDED": "true",  # its own chDB: no ClickHouse server here
                "POSTBACKS_LOG_WRITER_PORT": str(writer_port),
                "POSTBACKS_LOG_WRITER_BATCH_TIMEOUT_MS": "200",
            },
            tmp_path,
        )
        writer.start()
        dispatcher.start()
        await asyncio.to_thread(wait_until_ready, writer, writer_port)
        await asyncio.to_thread(wait_until_ready, dispatcher, dispatcher_port)
        # The stream holds after random slices until the kill there is done: however slow the
        # restarts, every kill comes with conversions still to fire.
        holds = KillPoints(rng.sample(range(SLICES - 3), KILLS))
        producing = asyncio.create_task(stream_conversions(bootstrap, ids, STREAM_S, holds))
        try:
            kills: list[int] = []  # requests the publisher had received at each kill
            started_with = 0  # requests the publisher had received when the dispatcher started
            for j in range(KILLS):
                # Killed while it fires: once it has sent something since it started (ready
                # comes seconds before the group gives it partitions), at a random moment after.
                # What the stream sent while it was down is there to fire, so it will.
                await holds.reached(j)
                await firing(publisher, before=started_with)
                await asyncio.sleep(rng.uniform(0.1, 1.0))
                dispatcher.kill()
                killed_at = time.monotonic()
                kills.append(len(publisher.requests))
                holds.killed(j)
                # The next one joins once the killed member's session has expired. Joined while
                # the dead member still counted, the group once stopped consuming for over 90 s
                # after that session expired mid-rebalance on the embedded broker (CI,
                # 2026-11-28); unexplained so far, and not what this test is about.
                await session_over(killed_at, SESSION_S)
                started_with = len(publisher.requests)
                dispatcher.start()
                await asyncio.to_thread(wait_until_ready, dispatcher, dispatcher_port)
            await producing

            # Every conversion handled: its input committed, which the dispatcher does once the
            # attempts are acknowledged by the broker.
            async def conversions_handled() -> int:
                committed, _ = await group_offsets(
                    bootstrap, DISPATCHER_GROUP, [topics.CONVERSIONS]
                )
                return committed

            def explain() -> str:
                return f"{dispatcher.output()}\n--- metrics\n{scraped(dispatcher_port)}"

            await while_progressing(
                conversions_handled, CONVERSIONS, "conversions handled", STALL_S, explain=explain
            )

            # Every attempt must reach the log before the writer stops.
            async def settled() -> bool:
                return await inputs_and_attempts_lag(bootstrap) == 0

            await until(settled, "inputs committed and attempts stored", STALL_S, every_s=0.3)
        finally:
            producing.cancel()
            assert dispatcher.stop() == 0, dispatcher.output()
            assert writer.stop() == 0, writer.output()

    stored = stored_attempts(tmp_path / "data")
    per_conversion = Counter(stored.transactions)
    unsent = Counter(stored.unsent)
    sent = per_conversion - unsent
    fired = Counter(r.path.split("tx=", 1)[1] for r in publisher.requests)
    twice = sum(1 for n in per_conversion.values() if n > 1)
    print(
        f"seed {seed}; requests received at each kill: {kills}; conversions {CONVERSIONS}; "
        f"fired twice (publisher saw 2+ requests): {sum(1 for n in fired.values() if n > 1)}; "
        f"stored with 2+ attempts: {twice}; attempts stored: {sum(per_conversion.values())}; "
        f"failed unsent: {sum(unsent.values())}"
    )
    missing = set(ids) - set(per_conversion)
    assert not missing, f"{len(missing)} conversions have no attempt stored (seed {seed})"
    # Each conversion reached the publisher, or failed unsent, logged as such: the dispatcher
    # sheds a host whose server looks stuck, which this receiver does when the test process is
    # starved of CPU (seen with a full test run and six busy loops beside it). None otherwise.
    assert set(fired) | set(unsent) == set(ids)
    # Every stored attempt that was sent is a request the publisher received. Not the other way
    # round: a request sent just before a kill has its attempt lost with the process, and is
    # fired again.
    assert sum(sent.values()) <= sum(fired.values())
    assert all(fired[tx] >= n for tx, n in sent.items())
