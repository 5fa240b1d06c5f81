"""The ingest benchmark's input: attempt records as the dispatcher would publish them.

Rows come from the query benchmark's generator (bench/query_data.py: a network-like log, about
1 KB a row), rendered by chDB as JSONEachRow in attempted_at order, so each batch covers a short
stretch of time as live traffic does. They are preloaded on `postbacks.attempts` with
librdkafka (confluent-kafka), keyed by attempt_id as the dispatcher keys them.
"""

from __future__ import annotations

import time
from pathlib import Path

from confluent_kafka import Producer

from bench.query_data import Shape, insert_sql
from postbacks import topics
from postbacks.store.chdb_backend import EmbeddedStore, shared_session
from postbacks.store.schema import apply_schema
from postbacks.store.sql import JSON_SETTINGS

GENERATED = "bench_ingest_source"
# JSONEachRow of the table starts every row with its first column: the key, cut out as is.
_ID_PREFIX = b'{"attempt_id":"'


async def generate(data_dir: Path, attempts: int) -> list[bytes]:
    """`attempts` JSON attempt records (bytes, one per record), oldest first."""
    store = EmbeddedStore(data_dir, database=GENERATED)
    await apply_schema(store)
    now_ms = int(time.time() * 1000)
    await store.execute(insert_sql(store.table("postback_attempts"), Shape(attempts, now_ms, 2.0)))
    # Rendered in the engine (the store's select() would parse every row into a dict first).
    result = shared_session(data_dir).query(
        f"SELECT * FROM {store.table('postback_attempts')} ORDER BY attempted_at "
        f"SETTINGS {JSON_SETTINGS}",
        "JSONEachRow",
    )
    rows: list[bytes] = result.bytes().splitlines()
    await store.execute(f"DROP DATABASE {GENERATED}")
    return rows


def preload(bootstrap: str, rows: list[bytes]) -> float:
    """Produce every row to postbacks.attempts; returns the seconds it took."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": False,  # not supported by the embedded broker (design §2)
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
        }
    )
    if rows and not rows[0].startswith(_ID_PREFIX):
        raise ValueError(f"rows must start with {_ID_PREFIX!r}: {rows[0][:40]!r}")
    started = time.perf_counter()
    for row in rows:
        key = row[len(_ID_PREFIX) : len(_ID_PREFIX) + 36]
        while True:
            try:
                producer.produce(topics.ATTEMPTS, value=row, key=key)
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError("the broker did not take every preloaded record in 120 s")
    return time.perf_counter() - started
