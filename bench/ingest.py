"""Scenario `ingest`: attempts per second from `postbacks.attempts` into ClickHouse.

1. Generate --ingest-attempts records (bench/ingest_data.py) and preload them on the topic of
   an embedded broker started for the run (Tansu, in memory, on 127.0.0.1).
2. Ceiling: the same rows inserted directly into the same store (a fresh database with the
   real schema: skip indexes, text indexes, the rollup's materialized view), in batches of
   --ingest-batch rows, as one newline-joined JSONEachRow body each: what ClickHouse takes.
3. Pipeline: the real log-writer (log_writer.service.LogWriter, as `postbacks log-writer` runs
   it) on another fresh database, reading the topic from the beginning; timed from the moment
   it owns the partitions to the moment every row is stored and committed.
4. Check the pipeline stored every attempt once; print rows/s, the ratio, the targets
   (issue 5: >= 200,000 rows/s and >= 50 % of the ceiling), write bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from bench.ingest_bounds import consume_only, insert_batches, parse_only, write_only
from bench.ingest_data import generate, preload
from bench.report import machine_info, table, write_json
from bench.scenario import Scenario
from log_writer.service import LogWriter
from log_writer.settings import LogWriterSettings
from postbacks.embedded_broker import EmbeddedBroker
from postbacks.kafka_admin import ensure_topics
from postbacks.store.chdb_backend import EmbeddedStore
from postbacks.store.schema import apply_schema

TARGET_ROWS_PER_S = 200_000
TARGET_SHARE = 0.5
STAGE_LABELS = {
    "parse": "engine: JSONEachRow parse only (Null table)",
    "write": "engine: table write only (INSERT SELECT, parsed)",
    "consume": "broker -> aiokafka, no work per record",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ingest scenario")
    group.add_argument(
        "--ingest-attempts", type=int, default=1_000_000, help="attempts preloaded on the topic"
    )
    group.add_argument(
        "--ingest-batch",
        type=int,
        default=LogWriterSettings.model_fields["log_writer_max_batch"].default,
        help="rows per INSERT, for the log-writer and the direct inserts alike",
    )


def run(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as data_dir:
        figures = uvloop.run(_run(args.ingest_attempts, args.ingest_batch, Path(data_dir)))
    print(_summary(figures))
    path = write_json("ingest", figures, args.results_dir)
    print(f"\nfigures written to {path}")


async def _run(attempts: int, batch: int, data_dir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    rows = await generate(data_dir, attempts)
    generated_s = time.perf_counter() - started
    with EmbeddedBroker() as broker:
        await ensure_topics(broker.kafka)
        preload_s = preload(broker.bootstrap, rows)
        direct = EmbeddedStore(data_dir, "bench_ingest_direct")
        await apply_schema(direct)
        ceiling_s = await insert_batches(direct, "postback_attempts", rows, batch)
        bounds_s = await _stages_alone(data_dir, rows, batch)
        row_bytes = sum(map(len, rows)) / len(rows)
        del rows
        pipeline = EmbeddedStore(data_dir, "bench_ingest_pipeline")
        pipeline_s = await _through_log_writer(pipeline, broker.bootstrap, attempts, batch)
        bounds_s["consume"] = await consume_only(broker.bootstrap, attempts, batch)
        log_table = pipeline.table("postback_attempts")
        stored = await pipeline.select(
            f"SELECT count() AS n, uniqExact(attempt_id) AS ids FROM {log_table}"
        )
    pipeline_rate, ceiling_rate = attempts / pipeline_s, attempts / ceiling_s
    return {
        "scenario": "ingest",
        "attempts": attempts,
        "batch_rows": batch,
        "mean_row_bytes": round(row_bytes),
        "generate_s": round(generated_s, 2),
        "preload_s": round(preload_s, 2),
        "pipeline": {"seconds": round(pipeline_s, 2), "rows_per_s": round(pipeline_rate)},
        "ceiling": {"seconds": round(ceiling_s, 2), "rows_per_s": round(ceiling_rate)},
        "ratio": round(pipeline_rate / ceiling_rate, 3),
        "stages_alone": {
            stage: {"seconds": round(seconds, 2), "rows_per_s": round(attempts / seconds)}
            for stage, seconds in bounds_s.items()
        },
        "stored_rows": stored[0]["n"],
        "stored_distinct_attempt_ids": stored[0]["ids"],
        "targets": {"rows_per_s": TARGET_ROWS_PER_S, "share_of_ceiling": TARGET_SHARE},
        "machine": machine_info(),
    }


async def _stages_alone(data_dir: Path, rows: list[bytes], batch: int) -> dict[str, float]:
    """The engine's two halves of the direct insert, each timed alone (bench/ingest_bounds.py);
    their databases are dropped after, so the pipeline's run has the memory back."""
    seconds: dict[str, float] = {}
    for stage, measure in (("parse", parse_only), ("write", write_only)):
        store = EmbeddedStore(data_dir, f"bench_ingest_{stage}")
        seconds[stage] = await measure(store, rows, batch)
        await store.execute(f"DROP DATABASE {store.database}")
    return seconds


async def _through_log_writer(
    store: EmbeddedStore, bootstrap: str, attempts: int, batch: int
) -> float:
    settings = LogWriterSettings(
        kafka_bootstrap=bootstrap,
        log_writer_group_id="bench-ingest",
        log_writer_max_batch=batch,
        log_writer_batch_timeout_ms=1000,
    )
    writer = LogWriter(settings, store)
    await writer.start()  # schema, retention, group join: not part of the timing
    started = time.perf_counter()
    try:
        # Stored and committed, both: a row counts once the log-writer would not read it again.
        while writer.loop.records_committed < attempts:
            if (problem := await writer.ready()) is not None:
                raise RuntimeError(problem)
            await asyncio.sleep(0.01)
        return time.perf_counter() - started
    finally:
        await writer.stop()


def _summary(figures: dict[str, Any]) -> str:
    pipeline, ceiling = figures["pipeline"]["rows_per_s"], figures["ceiling"]["rows_per_s"]
    ratio = figures["ratio"]

    def verdict(ok: bool) -> str:
        return "MET" if ok else "NOT MET"

    rows = [
        ["topic -> ClickHouse (log-writer)", f"{pipeline:,}", f"{figures['pipeline']['seconds']}",
         f">= {TARGET_ROWS_PER_S:,}/s: {verdict(pipeline >= TARGET_ROWS_PER_S)}"],
        ["direct INSERT (ceiling)", f"{ceiling:,}", f"{figures['ceiling']['seconds']}", ""],
        ["pipeline / ceiling", f"{ratio:.0%}", "",
         f">= {TARGET_SHARE:.0%}: {verdict(ratio >= TARGET_SHARE)}"],
    ]  # fmt: skip
    stages = figures["stages_alone"]
    bounds = [
        [f"{STAGE_LABELS[name]}", f"{stage['rows_per_s']:,}", f"{stage['seconds']}", ""]
        for name, stage in stages.items()
    ]
    head = (
        f"ingest: {figures['attempts']:,} attempts of ~{figures['mean_row_bytes']} bytes, "
        f"batches of {figures['batch_rows']:,}; stored {figures['stored_rows']:,} rows, "
        f"{figures['stored_distinct_attempt_ids']:,} distinct attempt_ids\n"
    )
    return (
        head
        + table(["path", "rows/s", "seconds", "target"], rows)
        + "\n\nwhat bounds it: each stage alone, same rows (bench/ingest_bounds.py)\n"
        + table(["stage", "rows/s", "seconds", ""], bounds)
    )


SCENARIO = Scenario(
    name="ingest",
    summary="attempts/s from postbacks.attempts into ClickHouse through the log-writer, "
    "beside direct INSERTs of the same rows",
    add_arguments=add_arguments,
    run=run,
)
