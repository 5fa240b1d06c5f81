"""The consumer loop: read `postbacks.attempts` in big batches, store them, then commit.

Invariant: an offset is committed only after every record before it is stored in ClickHouse
or published to the dead-letter topic. A crash anywhere (kill -9 included) therefore loses
nothing: the records after the last commit are read again, and the replay check of storing.py
keeps the ones already stored from being stored twice.

A batch is one partition-spanning `getmany` stretched until it holds `max_batch` records or its
first record has waited `batch_timeout_ms`: few, large inserts are what ClickHouse wants (one
part per insert). The next batch is read and checked while the previous one is stored. While a
batch is being stored, a rebalance waits for it (the lock), so a partition is never written by
two members at once; records of revoked partitions that were only read, not yet stored, are
dropped and read again by their new owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from log_writer.dead_lettering import publish_dead_letters
from log_writer.metrics import BATCH_ROWS, CONSUMER_LAG
from log_writer.storing import BatchWriter
from log_writer.validation import CheckedBatch, check_batch

log = logging.getLogger(__name__)

Pending = dict[TopicPartition, list[ConsumerRecord]]


class BatchLoop(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        writer: BatchWriter,
        *,
        max_batch: int,
        batch_timeout_ms: int,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._writer = writer
        self._max_batch = max_batch
        self._timeout_s = batch_timeout_ms / 1000
        self._pending: Pending = {}
        self._lock = asyncio.Lock()
        self._committed: dict[TopicPartition, int] = {}
        # Partitions this member owns: records of others are neither kept nor stored.
        self._owned: set[TopicPartition] = set()
        # Records stored (or dead-lettered) and committed by this member since it started.
        self.records_committed = 0

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._lock:  # waits for the batch being stored to be stored and committed
            for tp in revoked:
                self._owned.discard(tp)
                self._pending.pop(tp, None)
                self._committed.pop(tp, None)
                with contextlib.suppress(KeyError):  # no lag reported for it yet
                    CONSUMER_LAG.remove(tp.topic, str(tp.partition))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._owned.update(assigned)
        log.info("log-writer assigned %s", ", ".join(f"{t.topic}[{t.partition}]" for t in assigned))

    async def run(self) -> None:
        """Read and check the next batch while the previous one is being stored.

        Storing is one task at a time, in order, so offsets are committed in order.
        """
        storing: asyncio.Task[None] | None = None
        try:
            while True:
                await self._fill(storing)
                batch, self._pending = self._pending, {}
                if not batch:
                    continue
                checked = check_batch([r for part in batch.values() for r in part])
                if storing is not None:
                    await storing
                storing = asyncio.create_task(self._store_and_commit(batch, checked))
        finally:
            if storing is not None:
                storing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await storing

    async def _fill(self, storing: asyncio.Task[None] | None) -> None:
        """Read until max_batch records are pending or the oldest has waited batch_timeout.

        A failure of the batch being stored meanwhile (`storing`) is raised here at once.
        """
        deadline: float | None = None
        while True:
            if storing is not None and storing.done():
                storing.result()
            count = sum(len(r) for r in self._pending.values())
            if count >= self._max_batch:
                return
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            wait_s = self._timeout_s if deadline is None else deadline - now
            got = await self._consumer.getmany(
                timeout_ms=max(1, int(wait_s * 1000)), max_records=self._max_batch - count
            )
            for tp, records in got.items():
                if tp in self._owned:
                    self._pending.setdefault(tp, []).extend(records)
            await self._learn_committed_offsets()
            self._report_lag()
            if self._pending and deadline is None:
                deadline = time.monotonic() + self._timeout_s

    async def _store_and_commit(self, batch: Pending, checked: CheckedBatch) -> None:
        async with self._lock:
            lost = [tp for tp in batch if tp not in self._owned]
            if lost:
                # Revoked since they were read: their new owner reads them again.
                batch = {tp: part for tp, part in batch.items() if tp in self._owned}
                checked = check_batch([r for part in batch.values() for r in part])
            if batch:
                await self._store_owned(batch, checked)

    async def _store_owned(self, batch: Pending, checked: CheckedBatch) -> None:
        records: list[ConsumerRecord] = [r for part in batch.values() for r in part]
        BATCH_ROWS.observe(len(records))
        stored = await self._writer.store(checked)
        # Awaited before the commit: a dead letter is as durable as a stored row.
        await publish_dead_letters(self._producer, checked.dead_letters + stored.refused)
        offsets = {tp: OffsetAndMetadata(part[-1].offset + 1, "") for tp, part in batch.items()}
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The group moved on (this member was too slow or left): the new owner reads these
            # records again from the last commit, and the replay check skips what is stored.
            log.warning("committing %d records failed; they will be read again: %s",
                        len(records), exc)  # fmt: skip
            return
        self.records_committed += len(records)
        for tp, offset in offsets.items():
            self._committed[tp] = offset.offset
        self._report_lag()

    async def _learn_committed_offsets(self) -> None:
        """The group's committed offset of each newly owned partition, so its lag is reported
        from its first fetch on, not from this member's first commit: a log-writer that cannot
        store (ClickHouse down since it started) is the one whose lag a dashboard must show."""
        new = [tp for tp in self._owned if tp not in self._committed]
        if not new:
            return
        beginnings = await self._consumer.beginning_offsets(new)
        for tp in new:
            committed = await self._consumer.committed(tp)
            # Revoked meanwhile, or committed by our own store task: keep what is newer.
            if tp in self._owned and tp not in self._committed:
                self._committed[tp] = beginnings[tp] if committed is None else committed

    def _report_lag(self) -> None:
        for tp, committed in self._committed.items():
            high = self._consumer.highwater(tp)
            if high is not None:
                CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - committed))
