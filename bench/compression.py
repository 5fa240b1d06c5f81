"""Scenario `compression`: which codec the producers use, from attempt records measured two ways.

The records are the ingest benchmark's (bench/ingest_data.py: the query benchmark's generated
log as JSON, ~970 B each, keyed by attempt id). For none, lz4, zstd, snappy and gzip, side by
side in one run:

  (1) in this process (bench/compression_batches.py): batches of 1 to 1,000 records built in
      Kafka's record batch format and compressed at librdkafka's default levels: the bytes per
      batch, and the CPU to compress (librdkafka's work in the producer) and to decompress
      (aiokafka's, in the log-writer's loop) per record;
  (2) through the embedded broker (bench/compression_broker.py): the records produced by
      librdkafka with the dispatcher's producer settings at --compression-rate over
      --compression-partitions, then read back by librdkafka and by aiokafka and compared.

The figures are reported; nothing is enforced.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import uvloop

from bench import compression_broker
from bench.compression_batches import CODECS, BatchFigures, measure, records_sections
from bench.ingest_data import generate
from bench.report import machine_info, table, write_json
from bench.scenario import Scenario
from postbacks.embedded_broker import EmbeddedBroker

_KEY = slice(len(b'{"attempt_id":"'), len(b'{"attempt_id":"') + 36)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("compression scenario")
    group.add_argument(
        "--compression-records", type=int, default=20_000, help="attempt records per codec"
    )
    group.add_argument(
        "--compression-batches",
        default="1,3,10,30,100,1000",
        help="records per batch of the in-process measurement, comma-separated",
    )
    group.add_argument(
        "--compression-rate",
        type=float,
        default=6_250,
        help="records/s of the broker run: one of the capacity plan's 8 dispatchers at 50,000/s",
    )
    group.add_argument(
        "--compression-partitions",
        type=int,
        default=12,
        help="partitions of the broker run's topics (production's postbacks.attempts)",
    )
    group.add_argument(
        "--compression-linger-ms",
        type=int,
        default=5,
        help="linger.ms of the broker run's producer (the dispatcher's: 5)",
    )
    group.add_argument(
        "--compression-codecs", default=",".join(CODECS), help="codecs, comma-separated"
    )


def run(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    codecs = args.compression_codecs.split(",")
    if unknown := set(codecs) - set(CODECS):
        raise SystemExit(f"--compression-codecs: unknown {sorted(unknown)}; known: {list(CODECS)}")
    with tempfile.TemporaryDirectory(prefix="bench-compression-") as data_dir:
        figures = uvloop.run(_run(args, codecs, Path(data_dir)))
    path = write_json("compression", figures, args.results_dir)
    print(f"\nfigures written to {path}")


SCENARIO = Scenario(
    name="compression",
    summary="attempt records' compression ratio and CPU per codec, in process and via the broker",
    add_arguments=add_arguments,
    run=run,
)


async def _run(args: argparse.Namespace, codecs: list[str], data_dir: Path) -> dict[str, Any]:
    started = datetime.now(UTC)
    print(f"compression: generating {args.compression_records:,} attempt records ...", flush=True)
    rows = [(row[_KEY], row) for row in await generate(data_dir, args.compression_records)]
    sizes = [int(size) for size in args.compression_batches.split(",")]
    batches: list[BatchFigures] = []
    for size in sizes:
        sections = records_sections(rows, size)
        batches += [measure(codec, sections, size, len(rows)) for codec in codecs]
    print(_batch_tables(batches, codecs, sizes), flush=True)

    print(
        f"\nthrough the embedded broker: {len(rows):,} records per codec at "
        f"{args.compression_rate:,.0f}/s over {args.compression_partitions} partitions, "
        f"librdkafka with the dispatcher's settings, linger.ms={args.compression_linger_ms} ...",
        flush=True,
    )
    load = compression_broker.Load(
        args.compression_rate, args.compression_partitions, args.compression_linger_ms
    )
    brokered = []
    with EmbeddedBroker() as broker:
        for codec in codecs:
            brokered.append(await compression_broker.run(broker.bootstrap, codec, rows, load))
    print(_broker_table(brokered), flush=True)
    return {
        "scenario": "compression",
        "started": started.isoformat(),
        "records": len(rows),
        "mean_value_bytes": round(sum(len(v) for _, v in rows) / len(rows)),
        "in_process": [asdict(b) | {"ratio": round(b.ratio, 3)} for b in batches],
        "broker": {**asdict(load), "runs": [asdict(b) for b in brokered]},
        "versions": {
            name: metadata.version(name) for name in ("confluent-kafka", "aiokafka", "cramjam")
        },
        "machine": machine_info(),
    }


def _batch_tables(batches: list[BatchFigures], codecs: list[str], sizes: list[int]) -> str:
    cell = {(b.codec, b.records_per_batch): b for b in batches}
    heads = ["codec", *(f"{size:,}/batch" for size in sizes)]
    figures: dict[str, Callable[[BatchFigures], str]] = {
        "ratio (batch bytes uncompressed / compressed, headers included)": lambda b: (
            f"{b.ratio:.2f}x"
        ),
        "compress, CPU µs per record (librdkafka's levels)": lambda b: (
            f"{b.compress_us_per_record:.2f}"
        ),
        "decompress, CPU µs per record (aiokafka.codec)": lambda b: (
            f"{b.decompress_us_per_record:.2f}"
        ),
    }
    parts = []
    for title, figure in figures.items():
        rows = [[codec, *(figure(cell[codec, size]) for size in sizes)] for codec in codecs]
        parts.append(f"\nin process: {title}\n{table(heads, rows)}")
    return "\n".join(parts)


def _broker_table(runs: list[compression_broker.BrokerFigures]) -> str:
    none = next((r for r in runs if r.codec == "none"), None)
    rows = [
        [
            r.codec,
            f"{r.records_per_batch:.1f}",
            f"{r.batch_bytes_per_record:.0f}",
            f"{none.batch_bytes_per_record / r.batch_bytes_per_record:.2f}x" if none else "-",
            f"{r.sent_bytes_per_record:.0f}",
            f"{r.fetched_bytes_per_record:.0f}",
            f"{r.producer_cpu_us_per_record:.1f}",
            f"{r.aiokafka_cpu_us_per_record:.1f}",
            ", ".join(f"{lib} {'ok' if ok else 'MISMATCH'}" for lib, ok in r.read_back.items()),
        ]
        for r in runs
    ]
    heads = [
        "codec",
        "records/batch",
        "batch B/rec",
        "ratio",
        "sent B/rec",
        "fetched B/rec",
        "producer CPU µs/rec",
        "aiokafka read CPU µs/rec",
        "read back",
    ]
    return table(heads, rows)
