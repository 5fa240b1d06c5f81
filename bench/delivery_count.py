"""Counts the attempt records on `postbacks.attempts` as they arrive: the benchmark's finish line.

A group-less consumer reads every partition from the beginning (each run has a broker of its
own, so everything there belongs to the run). Times come from the records, not from when this
reader got them, so a reader that falls behind does not stretch the measured time: the first
request's start is the earliest `attempted_at`, the end is the latest record timestamp (set by
the dispatcher's producer when it sent the record). When the reader saw the last one is kept
too.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from postbacks import topics


@dataclass
class Tally:
    """What has arrived so far; healthy = attempts for publishers that are not hanging ones."""

    hanging: frozenset[int]
    total: int = 0
    healthy: int = 0
    healthy_success: int = 0
    first_ms: int | None = None  # the earliest attempted_at: the first request's start
    last_ms: int | None = None  # the latest record timestamp: the last attempt sent
    last_healthy_ms: int | None = None
    seen_last_at: float | None = None  # time.time() when the reader got the newest record
    # The first few distinct errors, so a run that "succeeds" by failing fast says so.
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, value: bytes, timestamp_ms: int) -> None:
        record = orjson.loads(value)
        self.total += 1
        # When the request started, not when its record was sent: a dispatcher that publishes a
        # batch's attempts together would otherwise hide its first batch from the clock.
        started_ms = int(datetime.fromisoformat(record["attempted_at"]).timestamp() * 1000)
        self.first_ms = started_ms if self.first_ms is None else min(self.first_ms, started_ms)
        self.last_ms = timestamp_ms if self.last_ms is None else max(self.last_ms, timestamp_ms)
        self.seen_last_at = time.time()
        error = record.get("error") or ""
        if error:
            shape = _shape(error)
            if shape in self.errors or len(self.errors) < 8:
                self.errors[shape] += 1
        if record["publisher_id"] in self.hanging:
            return
        self.healthy += 1
        if record["status"] == "Success":
            self.healthy_success += 1
        if self.last_healthy_ms is None or timestamp_ms > self.last_healthy_ms:
            self.last_healthy_ms = timestamp_ms


def _shape(error: str) -> str:
    # Errors name the URL or address, which differ per postback: group them without it.
    return _ADDRESS.sub("<address>", error)[:120]


_ADDRESS = re.compile(r"https?://\S+|\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?")


class AttemptCounter:
    def __init__(self, bootstrap: str, hanging: frozenset[int]) -> None:
        self.tally = Tally(hanging)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            max_partition_fetch_bytes=4 << 20,
        )

    async def start(self) -> None:
        await self._consumer.start()
        await self._consumer.topics()
        partitions = self._consumer.partitions_for_topic(topics.ATTEMPTS) or set()
        assigned = [TopicPartition(topics.ATTEMPTS, p) for p in sorted(partitions)]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_beginning(*assigned)

    async def poll(self, timeout_ms: int = 200) -> None:
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=20_000)
        for records in batches.values():
            for record in records:
                if record.value is not None:
                    self.tally.add(record.value, record.timestamp)

    async def stop(self) -> None:
        await self._consumer.stop()
