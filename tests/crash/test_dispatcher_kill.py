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
from aiokafka import AIOKafkaProducer

from postbacks import topics
from postbacks.configs import PostbackConfig, PostbackConfigIn
from postbacks.embedded_broker import free_port
from tests.crash.processes import (
    Service,
    broker_process,
    stored_attempts,
    stream_evenly,
    wait_until_ready,
)
from tests.e2e.receivers import Receiver, receiver

CONVERSIONS = int(os.environ.get("POSTBACKS_CRASH_CONVERSIONS", "20000"))
KILLS = 3
STREAM_S = 6.0
SESSION_TIMEOUT_S = 10  # aiokafka's default, which the dispatcher keeps


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


async def stream_conversions(bootstrap: str, ids: list[str], seconds: float) -> None:
    records = [
        (tx.encode(), orjson.dumps({"transaction_id": tx, "offer_id": 1, "publisher_id": 42}))
        for tx in ids
    ]
    await stream_evenly(bootstrap, topics.CONVERSIONS, records, seconds, slices=30)


async def firing(publisher: Receiver, before: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while len(publisher.requests) <= before:
        assert time.monotonic() < deadline, "the restarted dispatcher fired nothing"
        await asyncio.sleep(0.05)


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
                "POSTBACKS_LOG_WRITER_PORT": str(writer_port),
                "POSTBACKS_LOG_WRITER_BATCH_TIMEOUT_MS": "200",
            },
            tmp_path,
        )
        writer.start()
        dispatcher.start()
        await asyncio.to_thread(wait_until_ready, writer, writer_port)
        await asyncio.to_thread(wait_until_ready, dispatcher, dispatcher_port)
        producing = asyncio.create_task(stream_conversions(bootstrap, ids, STREAM_S))
        try:
            kills: list[int] = []  # requests the publisher had received at each kill
            for _ in range(KILLS):
                # Killed while it fires: once it has sent something (ready comes seconds before
                # the group gives it partitions), at a random moment after that.
                await firing(publisher, before=len(publisher.requests))
                await asyncio.sleep(rng.uniform(0.1, 1.0))
                dispatcher.kill()
                kills.append(len(publisher.requests))
                # The next one joins once the killed member's session (10 s) has expired. Joined
                # while the dead member still counted, the group once stopped consuming for
                # over 90 s after that session expired mid-rebalance on the embedded broker
                # (CI, 2026-11-28); unexplained so far, and not what this test is about.
                await asyncio.sleep(SESSION_TIMEOUT_S + 1)
                dispatcher.start()
                await asyncio.to_thread(wait_until_ready, dispatcher, dispatcher_port, 90)
            await producing
            deadline = time.monotonic() + 90
            while len({r.path for r in publisher.requests}) < CONVERSIONS:
                assert time.monotonic() < deadline, (
                    f"{len(publisher.requests)} of {CONVERSIONS} fired:\n{dispatcher.output()}"
                )
                await asyncio.sleep(0.3)
            # Every fired postback's attempt must reach the log before the writer stops.
            await asyncio.sleep(2)
        finally:
            producing.cancel()
            assert dispatcher.stop() == 0, dispatcher.output()
            assert writer.stop() == 0, writer.output()

    stored = stored_attempts(tmp_path / "data")
    per_conversion = Counter(stored.transactions)
    fired = Counter(r.path.split("tx=", 1)[1] for r in publisher.requests)
    twice = sum(1 for n in per_conversion.values() if n > 1)
    print(
        f"seed {seed}; requests received at each kill: {kills}; conversions {CONVERSIONS}; "
        f"fired twice (publisher saw 2+ requests): {sum(1 for n in fired.values() if n > 1)}; "
        f"stored with 2+ attempts: {twice}; attempts stored: {sum(per_conversion.values())}"
    )
    missing = set(ids) - set(per_conversion)
    assert not missing, f"{len(missing)} conversions have no attempt stored (seed {seed})"
    assert set(fired) == set(ids)
    # Every stored attempt is a request the publisher received. Not the other way round: a
    # request sent just before a kill has its attempt lost with the process, and is fired again.
    assert sum(per_conversion.values()) <= sum(fired.values())
    assert all(fired[tx] >= n for tx, n in per_conversion.items())
