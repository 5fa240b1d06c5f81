"""Scenario `live-stream`: what the live view (GET /api/v1/logs/stream) costs the serving
process with 1 client and with many, side by side in one run.

1. A fresh chDB database in a temporary directory, and the real query-api served by uvicorn on
   127.0.0.1 in this process (bench/api_server.py), its store counting the live view's reads of
   the log (the one SELECT with `AS matched`).
2. Attempts inserted all along (--live-rate a second, a batch every 100 ms, timed now and up to
   half a second before, as the log-writer stores them: late and out of order), spread over the
   publishers 1000 to 1099.
3. Runs of --live-seconds each: no client (what the inserts cost alone), 1 client, and
   --live-clients clients, each watching a publisher of its own (different filters: each its
   own condition in the one read). The clients run in a child process
   (bench/live_stream_clients.py), so this process's CPU is the server's: uvicorn, the app, the
   inserts, and chDB's threads.
4. Per run: the reads of the log per interval (the design says at most one, whatever the
   clients), the server's CPU seconds per second (time.process_time), and the attempts the
   clients got per second against those inserted for their publishers.

The figures are reported; nothing is enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvloop

from bench.api_server import serve_query_api
from bench.report import machine_info, table, write_json
from bench.scenario import Scenario
from postbacks.attempts import AttemptRecord
from postbacks.store import Params, Row
from postbacks.store.chdb_backend import EmbeddedStore
from postbacks.store.protocol import QuerySettings
from postbacks.store.schema import apply_schema
from query_api.dependencies import services_of
from query_api.live.limits import StreamLimits

FIRST_PUBLISHER = 1000
PUBLISHERS = 100
BATCHES_PER_S = 10
# The app's default, which serve_query_api leaves as it is.
INTERVAL_S = StreamLimits().interval_seconds
REPO_ROOT = Path(__file__).resolve().parents[1]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("live-stream scenario")
    group.add_argument("--live-clients", type=int, default=100, help="clients of the big run")
    group.add_argument("--live-seconds", type=float, default=12.0, help="seconds per run")
    group.add_argument("--live-rate", type=int, default=500, help="attempts inserted a second")


def run(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not 1 <= args.live_clients <= PUBLISHERS:
        raise SystemExit(f"--live-clients: 1 to {PUBLISHERS}, one publisher each")
    with tempfile.TemporaryDirectory(prefix="bench-live-") as data_dir:
        figures = uvloop.run(_run(args, Path(data_dir)))
    path = write_json("live-stream", figures, args.results_dir)
    print(f"\nfigures written to {path}")


SCENARIO = Scenario(
    name="live-stream",
    summary="the live view's reads of the log and server CPU with 1 client and with 100",
    add_arguments=add_arguments,
    run=run,
)


class CountingStore(EmbeddedStore):
    """The real store; it counts the live view's reads of the log, and the time they take."""

    reads = 0
    read_seconds = 0.0

    async def select(
        self, sql: str, params: Params | None = None, settings: QuerySettings | None = None
    ) -> list[Row]:
        if "AS matched" not in sql:
            return await super().select(sql, params, settings)
        started = time.perf_counter()
        try:
            return await super().select(sql, params, settings)
        finally:
            self.reads += 1
            self.read_seconds += time.perf_counter() - started


@dataclass
class Inserted:
    """Attempts inserted so far, by publisher."""

    by_publisher: Counter[int]

    def total(self, publishers: range) -> int:
        return sum(self.by_publisher[p] for p in publishers)


@dataclass
class Figures:
    run: str
    clients: int
    seconds: float
    reads: int
    # The most reads one an interval allows in the window: what `reads` must not exceed.
    reads_allowed: int
    ms_per_read: float | None
    cpu_s_per_s: float
    cpu_above_idle: float | None
    events_per_s: float
    expected_per_s: float
    gaps: int
    mib_per_s: float


async def _run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    started = datetime.now(UTC)
    store = CountingStore(data_dir, "bench_live")
    await apply_schema(store)
    runs = [("no client", 0), ("1 client", 1), (f"{args.live_clients} clients", args.live_clients)]
    results: list[Figures] = []
    async with serve_query_api(store) as api, _inserting(store, args.live_rate) as inserted:
        print(
            f"live-stream: the query-api at {api.base_url}, {args.live_rate} attempts/s inserted "
            f"over {PUBLISHERS} publishers; runs of {args.live_seconds:g} s, reads every "
            f"{INTERVAL_S:g} s",
            flush=True,
        )
        try:
            for label, clients in runs:
                figures = await _measure(api.base_url, store, inserted, label, clients, args)
                if results:
                    figures.cpu_above_idle = figures.cpu_s_per_s - results[0].cpu_s_per_s
                results.append(figures)
                print(f"  {label}: done", flush=True)
        finally:
            await services_of(api.app).live.close()
        server_errors = dict(api.server_errors.counts)
    print()
    print(_table(results))
    return {
        "scenario": "live-stream",
        "started_at": started.isoformat(),
        "machine": machine_info(),
        "settings": {k: str(v) for k, v in vars(args).items() if k.startswith("live_")},
        "interval_seconds": INTERVAL_S,
        "runs": [asdict(f) for f in results],
        "server_errors": server_errors,
    }


async def _measure(
    url: str,
    store: CountingStore,
    inserted: Inserted,
    label: str,
    clients: int,
    args: argparse.Namespace,
) -> Figures:
    seconds = args.live_seconds
    watched = range(FIRST_PUBLISHER, FIRST_PUBLISHER + clients)
    child = None
    if clients:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.live_stream_clients",
            url, str(FIRST_PUBLISHER), str(clients), str(seconds),
            cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert child.stdout is not None
        ready = await asyncio.wait_for(child.stdout.readline(), 60)
        if ready.strip() != b"ready":
            raise RuntimeError(f"the clients did not start: {ready!r}")
    cpu, wall, reads, read_s = (
        time.process_time(),
        time.monotonic(),
        store.reads,
        store.read_seconds,
    )
    rows = inserted.total(watched)
    got: dict[str, int] = {"events": 0, "gaps": 0, "bytes": 0}
    if child is not None:
        assert child.stdout is not None
        got = json.loads(await asyncio.wait_for(child.stdout.readline(), seconds + 60))
        await child.wait()
    else:
        await asyncio.sleep(seconds)
    elapsed = time.monotonic() - wall
    reads = store.reads - reads
    return Figures(
        run=label,
        clients=clients,
        seconds=round(elapsed, 2),
        reads=reads,
        reads_allowed=math.floor(elapsed / INTERVAL_S) + 1,
        ms_per_read=(store.read_seconds - read_s) * 1000 / reads if reads else None,
        cpu_s_per_s=(time.process_time() - cpu) / elapsed,
        cpu_above_idle=None,
        events_per_s=got["events"] / elapsed,
        expected_per_s=(inserted.total(watched) - rows) / elapsed,
        gaps=got["gaps"],
        mib_per_s=got["bytes"] / elapsed / 2**20,
    )


@contextlib.asynccontextmanager
async def _inserting(store: EmbeddedStore, rate: int) -> AsyncIterator[Inserted]:
    """Insert `rate` attempts a second while the block runs, as the log-writer would."""
    inserted = Inserted(Counter())
    rng = random.Random(7)
    per_batch = max(1, rate // BATCHES_PER_S)

    async def insert() -> None:
        while True:
            now = datetime.now(UTC)
            batch = [_attempt(rng, now) for _ in range(per_batch)]
            await store.insert_json(
                "postback_attempts", [r.model_dump_json().encode() for r in batch]
            )
            inserted.by_publisher.update(r.publisher_id for r in batch)
            await asyncio.sleep(1 / BATCHES_PER_S)

    task = asyncio.create_task(insert(), name="bench-live-inserts")
    try:
        yield inserted
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _attempt(rng: random.Random, now: datetime) -> AttemptRecord:
    failed = rng.random() < 0.2
    transaction = f"tx-{rng.getrandbits(40):x}"
    publisher = rng.randrange(FIRST_PUBLISHER, FIRST_PUBLISHER + PUBLISHERS)
    return AttemptRecord(
        attempt_id=uuid.uuid4(),
        attempted_at=now - timedelta(milliseconds=rng.randrange(500)),
        status="Failed" if failed else "Success",
        postback_id=uuid.UUID(int=publisher),
        postback_name=f"network-{publisher}",
        postback_type="Conversion",
        offer_id=rng.randrange(1, 50),
        publisher_id=publisher,
        transaction_id=transaction,
        response_code=503 if failed else 200,
        url=f"https://publisher-{publisher}.example/pb?click={transaction}&payout=2.50",
        error="HTTP 503" if failed else "",
        server_response="busy" if failed else "OK",
        latency_ms=rng.randrange(20, 400),
        source=json.dumps({"transaction_id": transaction, "publisher_id": publisher}),
    )


def _table(results: list[Figures]) -> str:
    rows = [
        [
            f.run,
            f"{f.reads} of {f.reads_allowed}",
            "" if f.ms_per_read is None else f"{f.ms_per_read:.1f}",
            f"{f.cpu_s_per_s:.3f}",
            "" if f.cpu_above_idle is None else f"{f.cpu_above_idle:+.3f}",
            f"{f.events_per_s:.1f}",
            f"{f.expected_per_s:.1f}",
            str(f.gaps),
            f"{f.mib_per_s:.3f}",
        ]
        for f in results
    ]
    headers = [
        "run",
        f"reads (of most at one a {INTERVAL_S:g} s)",
        "ms a read",
        "server CPU s/s",
        "above no client",
        "attempts sent/s",
        "inserted for them/s",
        "gaps",
        "MiB/s sent",
    ]
    return table(headers, rows)
