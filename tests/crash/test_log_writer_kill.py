"""kill -9 the log-writer at random moments while attempts stream: the set of attempt IDs stored
equals the set published, with no duplicates, for plain SELECTs and for the rollup.

Real processes: `postbacks broker` (survives the kills), `postbacks log-writer` (killed and
restarted); the stored log is read after the last log-writer exited.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from pathlib import Path

from postbacks import topics
from postbacks.embedded_broker import free_port
from tests.crash.processes import (
    Service,
    broker_process,
    stored_attempts,
    stream_evenly,
    wait_until_ready,
)
from tests.log_writer.kafka_state import committed_total
from tests.log_writer.records import attempt, encoded

ATTEMPTS = int(os.environ.get("POSTBACKS_CRASH_ATTEMPTS", "20000"))
KILLS = 4
STREAM_S = 6.0
GROUP = "postbacks-log-writer"


async def stream(bootstrap: str, values: list[bytes], seconds: float) -> None:
    """Produce `values` evenly over about `seconds`, keyed like the dispatcher keys them."""
    records = [(value[16:52], value) for value in values]
    await stream_evenly(bootstrap, topics.ATTEMPTS, records, seconds, slices=50)


async def test_kill_9_the_log_writer_loses_and_doubles_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("POSTBACKS_CRASH_SEED", str(time.time_ns())))
    rng = random.Random(seed)
    records = [attempt(n) for n in range(ATTEMPTS)]
    published = {str(r.attempt_id) for r in records}
    port = free_port()
    with broker_process(tmp_path) as bootstrap:
        writer = Service(
            "log-writer",
            {
                "POSTBACKS_KAFKA_BOOTSTRAP": bootstrap,
                "POSTBACKS_DATA_DIR": str(tmp_path / "data"),
                "POSTBACKS_LOG_WRITER_PORT": str(port),
                # Small batches, so a kill lands between insert and commit now and then.
                "POSTBACKS_LOG_WRITER_MAX_BATCH": "500",
                "POSTBACKS_LOG_WRITER_BATCH_TIMEOUT_MS": "100",
                "POSTBACKS_LOG_WRITER_SESSION_TIMEOUT_MS": "2000",
            },
            tmp_path,
        )
        values = [encoded(r) for r in records]
        # Half the attempts wait on the topic (a backlog: the writer stores batch after batch,
        # so a kill often falls between an insert and its commit); the rest stream meanwhile.
        await stream(bootstrap, values[: ATTEMPTS // 2], 0)
        writer.start()
        await asyncio.to_thread(wait_until_ready, writer, port)
        producing = asyncio.create_task(stream(bootstrap, values[ATTEMPTS // 2 :], STREAM_S))
        try:
            kills: list[int] = []  # records committed when each kill came
            for _ in range(KILLS):
                await asyncio.sleep(rng.uniform(0.05, 0.6))
                if (committed := await committed_total(bootstrap, GROUP)) >= ATTEMPTS:
                    break  # all stored: a kill now would test nothing
                writer.kill()
                kills.append(committed)
                writer.start()
                await asyncio.to_thread(wait_until_ready, writer, port)
            await producing
            await asyncio.to_thread(wait_until_ready, writer, port)
            deadline = time.monotonic() + 60
            while await committed_total(bootstrap, GROUP) < ATTEMPTS:
                assert time.monotonic() < deadline, f"not all committed:\n{writer.output()}"
                await asyncio.sleep(0.3)
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
    assert len(kills) >= 2, f"only {len(kills)} kills came while there was work (seed {seed})"
