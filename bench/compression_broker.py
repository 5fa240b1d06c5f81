"""Attempts through the embedded broker (Tansu), compressed by librdkafka as the dispatcher
produces them, then read back by both client libraries.

The producer has the dispatcher's settings (services/dispatcher/dispatcher/kafka_publisher.py:
acks=all, no idempotence, linger.ms=5 unless told, librdkafka's default batch.size) with the
codec under test, and spreads records over the partitions by attempt id as
dispatcher/outputs.py does. It is paced at a steady rate: a batch holds what one partition gets
in one linger window, so the rate and the partition count set the batch, and the batch sets the
ratio. librdkafka's own statistics give the batches (records and bytes, compressed) and the
bytes sent to the broker; a librdkafka consumer's statistics give the bytes the broker sends
back, so a broker that stored the batches decompressed would show. Then librdkafka and aiokafka
each read every record and compare it with what was sent.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer
from confluent_kafka import TopicPartition as Assigned

from postbacks.kafka_admin import ensure_topics
from postbacks.kafka_connection import KafkaConnection
from postbacks.topics import TopicSpec

_STATS_INTERVAL_MS = 100


@dataclass
class _Stats:
    """librdkafka's statistics, summed over their windows."""

    batches: int = 0
    batch_records: int = 0
    batch_bytes: int = 0
    broker_bytes: int = 0  # cumulative in librdkafka: the last report holds the total
    seen: list[dict[str, Any]] = field(default_factory=list)

    def collect(self, raw: str, topic: str, sent: bool) -> None:
        stats = json.loads(raw)
        brokers = [b for b in stats["brokers"].values() if b["nodeid"] >= 0]
        self.broker_bytes = sum(b["txbytes" if sent else "rxbytes"] for b in brokers)
        if sent and topic in stats["topics"]:
            t = stats["topics"][topic]
            self.batches += t["batchcnt"]["cnt"]
            self.batch_records += t["batchcnt"]["sum"]
            self.batch_bytes += t["batchsize"]["sum"]


@dataclass(frozen=True)
class BrokerFigures:
    codec: str
    records: int
    value_bytes: int
    seconds: float
    producer_cpu_us_per_record: float  # the whole process: this loop and librdkafka's threads
    batches: int
    records_per_batch: float
    batch_bytes_per_record: float  # compressed record batches, as librdkafka reports them
    sent_bytes_per_record: float  # everything written to the broker's socket
    fetched_bytes_per_record: float  # everything the broker answered a librdkafka reader
    aiokafka_cpu_us_per_record: float  # reading every record back, decompression included
    read_back: dict[str, bool]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _partition(key: bytes, partitions: int) -> int:
    return int(key[:8], 16) % partitions  # the first 32 random bits, as dispatcher/outputs.py


@dataclass(frozen=True)
class Load:
    """How the records are produced: what sets the size of a batch."""

    rate: float  # records/s
    partitions: int
    linger_ms: int  # the dispatcher's: 5


def produce(
    bootstrap: str, topic: str, codec: str, rows: list[tuple[bytes, bytes]], load: Load
) -> tuple[float, float, _Stats]:
    """(seconds, process CPU seconds, statistics) of producing `rows` at `load.rate`/s."""
    stats = _Stats()
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": False,
            "linger.ms": load.linger_ms,
            "compression.type": codec,
            "statistics.interval.ms": _STATS_INTERVAL_MS,
            "stats_cb": lambda raw: stats.collect(raw, topic, sent=True),
        }
    )
    cpu, started = _cpu_s(), time.perf_counter()
    sent = 0
    while sent < len(rows):
        due = min(len(rows), int((time.perf_counter() - started) * load.rate) + 1)
        for key, value in rows[sent:due]:
            producer.produce(topic, value, key, _partition(key, load.partitions))
        sent = due
        producer.poll(0)
        time.sleep(0.0005)
    if producer.flush(60) != 0:
        raise RuntimeError(f"{codec}: the broker did not take every record in 60 s")
    seconds, cpu = time.perf_counter() - started, _cpu_s() - cpu
    time.sleep(2.5 * _STATS_INTERVAL_MS / 1000)  # the last window's statistics
    producer.poll(0)
    return seconds, cpu, stats


def read_with_librdkafka(bootstrap: str, topic: str, records: int) -> tuple[list[bytes], _Stats]:
    stats = _Stats()
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-compression-{topic}",  # assigned, never joined
            "enable.auto.commit": False,
            "statistics.interval.ms": _STATS_INTERVAL_MS,
            "stats_cb": lambda raw: stats.collect(raw, topic, sent=False),
        }
    )
    partitions = consumer.list_topics(topic, 10).topics[topic].partitions
    consumer.assign([Assigned(topic, p, OFFSET_BEGINNING) for p in partitions])
    values: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while len(values) < records and time.monotonic() < deadline:
            for message in consumer.consume(1000, timeout=0.5):
                if message.error() is None:
                    values.append(message.value() or b"")
        time.sleep(2.5 * _STATS_INTERVAL_MS / 1000)
        consumer.poll(0)
    finally:
        consumer.close()
    return values, stats


async def read_with_aiokafka(
    bootstrap: str, topic: str, partitions: int
) -> tuple[list[bytes], float]:
    """Every record of `topic`, and the process CPU seconds reading them took."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        values: list[bytes] = []
        cpu = _cpu_s()
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            for batch in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                values += [record.value for record in batch]
        return values, _cpu_s() - cpu
    finally:
        await consumer.stop()


async def run(
    bootstrap: str, codec: str, rows: list[tuple[bytes, bytes]], load: Load
) -> BrokerFigures:
    topic = f"bench.compression.{codec}"
    await ensure_topics(KafkaConnection(bootstrap), [TopicSpec(topic, load.partitions)])
    seconds, cpu, sent = await asyncio.to_thread(produce, bootstrap, topic, codec, rows, load)
    by_librdkafka, fetched = await asyncio.to_thread(
        read_with_librdkafka, bootstrap, topic, len(rows)
    )
    by_aiokafka, aiokafka_cpu = await read_with_aiokafka(bootstrap, topic, load.partitions)
    expected = sorted(value for _, value in rows)
    n = len(rows)
    return BrokerFigures(
        codec=codec,
        records=n,
        value_bytes=sum(len(value) for _, value in rows),
        seconds=seconds,
        producer_cpu_us_per_record=cpu * 1e6 / n,
        batches=sent.batches,
        records_per_batch=sent.batch_records / max(sent.batches, 1),
        batch_bytes_per_record=sent.batch_bytes / max(sent.batch_records, 1),
        sent_bytes_per_record=sent.broker_bytes / n,
        fetched_bytes_per_record=fetched.broker_bytes / n,
        aiokafka_cpu_us_per_record=aiokafka_cpu * 1e6 / n,
        read_back={
            "librdkafka": sorted(by_librdkafka) == expected,
            "aiokafka": sorted(by_aiokafka) == expected,
        },
    )
