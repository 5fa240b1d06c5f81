"""kill -9 the log-writer at random moments while attempts stream: the set of attempt IDs stored
equals the set published, with no duplicates, for plain SELECTs and for the rollup.

Real processes: `postbacks broker` (survives the kills), `postbacks log-writer` (killed and
restarted); the stored log is read after the last log-writer exited.

Every wait is on an event or on progress, with ceilings far above the usual times, so a busy
machine makes the test slower, not red: the stream holds at each kill point until the kill is
done, so there is always work left when one lands, however slow the restarts are.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from postbacks import topics
from postbacks.embedded_broker import free_port
from tests.attempts import attempt_record, encoded
from tests.crash.processes import (
    KillPoints,
    Service,
    broker_process,
    session_over,
    stored_attempts,
    stream_evenly,
    wait_until_ready,
)
from tests.log_writer.kafka_state import committed_total
from tests.waiting import while_progressing

ATTEMPTS = int(os.environ.get("POSTBACKS_CRASH_ATTEMPTS", "20000"))
KILLS = 4
STREAM_S = 6.0
SLICES = 50
GROUP = "postbacks-log-writer"
SESSION_S = 2.0  # POSTBACKS_LOG_WRITER_SESSION_TIMEOUT_MS below
STALL_S = 120.0  # how long the committed count may stand still before the test gives up

pytestmark = pytest.mark.timeout(900)  # minutes under load; the waits inside fail sooner


async def stream(
    bootstrap: str, values: list[bytes], seconds: float, holds: KillPoints | None = None
) -> None:
    """Produce `values` evenly over about `seconds`, keyed like the dispatcher keys them."""
    records = [(value[16:52], value) for value in values]
    await stream_evenly(bootstrap, topics.ATTEMPTS, records, seconds, SLICES, holds)


async def test_kill_9_the_log_writer_loses_and_doubles_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("POSTBACKS_CRASH_SEED", str(time.time_ns())))
    rng = random.Random(seed)
    records = [attempt_record(n) for n in range(ATTEMPTS)]
    published = {str(r.attempt_id) for r in records}
    port = free_port()
    with broker_process(tmp_path) as bootstrap:
        writer = Service(
            "log-writer",
            {
                "POSTBACKS_KAFKA_BOOTSTRAP": bootstrap,
                "POSTBACKS_DATA_DIR": str(tmp_path / "data"),
                "POSTBACKS_EMBEDDED": "true",  # its own chDB: no ClickHouse server here
                "POSTBACKS_LOG_WRITER_PORT": str(port),
                # Small batches, so a kill lands between insert and commit now and then.
                "POSTBACKS_LOG_WRITER_MAX_BATCH": "500",
                "POSTBACKS_LOG_WRITER_BATCH_TIMEOUT_MS": "100",
                "POSTBACKS_LOG_WRITER_SESSION_TIMEOUT_MS": str(int(SESSION_S * 1000)),
            },
            tmp_path,
        )
        values = [encoded(r) for r in records]
        # Half the attempts wait on the topic (a backlog: the writer stores batch after batch,
        # so a kill often falls between an insert and its commit); the rest stream meanwhile.
        await stream(bootstrap, values[: ATTEMPTS // 2], 0)
        writer.start()
        await asyncio.to_thread(wait_until_ready, writer, port)
        # Killed while attempts stream: after random slices of the stream, which holds there
        # until the kill is done and goes on while the writer is down, so the restarted writer
        # meets a backlog again.
        holds = KillPoints(rng.sample(range(SLICES - 5), KILLS))
        producing = asyncio.create_task(stream(bootstrap, values[ATTEMPTS // 2 :], STREAM_S, holds))
        try:
            kills: list[int] = []  # records committed when each kill came
            for j in range(KILLS):
                await holds.reached(j)
                await asyncio.sleep(rng.uniform(0, 0.3))  # a moment within the batches
                kills.append(await committed_total(bootstrap, GROUP))
                writer.kill()
                killed_at = time.monotonic()
                holds.killed(j)
                await session_over(killed_at, SESSION_S)
                writer.start()
                await asyncio.to_thread(wait_until_ready, writer, port)
            await producing
            await while_progressing(
                lambda: committed_total(bootstrap, GROUP),
                ATTEMPTS,
                "records committed by the log-writer",
                STALL_S,
                explain=writer.output,
            )
        finally:
            producing.cancel()
            assert writer.stop() == 0, writer.output()

    stored = stored_attempts(tmp_path / "data")
    ids = Counter(stored.ids)
    doubled = {i: n for i, n in ids.items() if n > 1}
    print(f"seed {seed}; committed at each kill: {kills}; rows {sum(ids.values())}")
    assert not doubled, f"{len(doubled)} attempts stored more than once (seed {seed})"
    assert set(ids) == published, (
        f"missing {len(published - set(ids))}, unexpected {len(set(ids) - published)} (seed {seed})"
    )
    assert stored.rollup_attempts == ATTEMPTS
    # The stream held the rest back at each kill, so each came with work still to do.
    assert len(kills) == KILLS
    assert all(committed < ATTEMPTS for committed in kills), kills
