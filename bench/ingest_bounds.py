"""What bounds ingest on this machine: the pipeline's stages, each measured alone.

The log-writer's rate is at most the slowest of what it is built from, so the ingest scenario
also times each stage by itself, on the same rows:

- consume: the broker handing the topic to an aiokafka consumer configured as the log-writer's,
  with no work done per record (the Kafka side's ceiling);
- parse: the JSONEachRow inserts of the direct run into a `Null`-engine table with the log's
  columns: ClickHouse parses the rows and throws them away (the format's cost alone);
- write: the rows, already parsed into a `Memory` table, inserted into the real schema by
  `INSERT ... SELECT` in blocks of the batch size: sorting, compression, skip and text indexes,
  the projection and the rollup's materialized view, without any parsing.

The direct insert (the ceiling) is parse + write, so its rate is close to 1 / (1/parse +
1/write); a target above `consume`, or above that, needs more cores, not a better log-writer.
"""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer

from log_writer.settings import LogWriterSettings
from postbacks import topics
from postbacks.store.chdb_backend import EmbeddedStore
from postbacks.store.schema import apply_schema

LOG = "postback_attempts"


async def consume_only(bootstrap: str, attempts: int, batch: int) -> float:
    """Seconds to fetch `attempts` records from postbacks.attempts, from the first record on,
    with the log-writer's fetch settings and nothing done per record."""
    fetch_bytes = LogWriterSettings.model_fields["log_writer_partition_fetch_bytes"].default
    consumer = AIOKafkaConsumer(
        topics.ATTEMPTS,
        bootstrap_servers=bootstrap,
        group_id="bench-ingest-consume-only",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=fetch_bytes,
        fetch_max_bytes=max(52_428_800, fetch_bytes),
    )
    await consumer.start()
    try:
        fetched, started = 0, 0.0
        while fetched < attempts:
            got = await consumer.getmany(timeout_ms=1000, max_records=batch)
            if got and not started:
                started = time.perf_counter()
            fetched += sum(map(len, got.values()))
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def parse_only(store: EmbeddedStore, rows: list[bytes], batch: int) -> float:
    """Seconds to insert `rows` as the direct run does, into a table that keeps nothing."""
    await apply_schema(store)
    dropped = store.table("dropped")
    await store.execute(f"CREATE TABLE {dropped} AS {store.table(LOG)} ENGINE = Null")
    return await insert_batches(store, "dropped", rows, batch)


async def write_only(store: EmbeddedStore, rows: list[bytes], batch: int) -> float:
    """Seconds to insert `rows`, parsed beforehand, into the real schema in `batch`-row blocks."""
    await apply_schema(store)
    parsed = "parsed"
    await store.execute(f"CREATE TABLE {store.table(parsed)} AS {store.table(LOG)} ENGINE = Memory")
    await insert_batches(store, parsed, rows, batch)
    started = time.perf_counter()
    await store.execute(
        f"INSERT INTO {store.table(LOG)} SELECT * FROM {store.table(parsed)} "
        f"SETTINGS max_insert_block_size = {batch}, min_insert_block_size_rows = {batch}, "
        "min_insert_block_size_bytes = 0"
    )
    seconds = time.perf_counter() - started
    written = await store.select(f"SELECT count() AS n FROM {store.table(LOG)}")
    if written[0]["n"] != len(rows):
        raise RuntimeError(f"write stage stored {written[0]['n']} rows of {len(rows)}")
    return seconds


async def insert_batches(store: EmbeddedStore, table: str, rows: list[bytes], batch: int) -> float:
    """Seconds to insert `rows` into `table` as JSONEachRow bodies of `batch` rows each."""
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        await store.insert_json(table, [b"\n".join(rows[start : start + batch])])
    return time.perf_counter() - started
