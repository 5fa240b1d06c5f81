"""The pipelined delivery engine: keeps consuming while postbacks are in flight.

    consumer ──records──► plan ──jobs──► HostScheduler ──► Deliverer ──attempt──► producer
       ▲                                   (per-host and global slots)              │ ack
       └── pause / resume on the bound of admitted postbacks ◄── OffsetTracker ◄────┘
                                                              (commit what is fully done)

Bounds, so memory stays flat whatever publishers do:
- `max_in_flight` requests overall and `per_host` per publisher host (HostScheduler);
- `waiting_per_host` postbacks waiting for a host's slot; past it the consumer waits for a
  healthy host, and a stuck one's postbacks fail at once, unsent (scheduler.py);
- `max_pending` postbacks admitted but not yet acknowledged by the broker: at this bound the
  consumer pauses every partition, and resumes once below it. aiokafka's own prefetch is
  bounded in bytes per partition, so no queue anywhere grows without bound.

At least once: an input's offset is committed only when all its attempts (or its dead letter)
are acknowledged by the broker (offsets.py). After a crash the uncommitted inputs are consumed
again and their postbacks re-sent; each request carries X-Postback-Attempt-Id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from dispatcher import metrics
from dispatcher.attempt import Attempt
from dispatcher.config_table import ConfigTable
from dispatcher.delivery import Deliverer
from dispatcher.failures import HostOverloaded
from dispatcher.offsets import OffsetTracker, PartitionProgress
from dispatcher.processing import Job, plan
from dispatcher.publishing import BatchPublisher
from dispatcher.scheduler import Admission, HostScheduler
from postbacks import topics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EngineLimits:
    max_in_flight: int = 1024
    per_host: int = 64
    waiting_per_host: int = 1000
    max_line_wait_s: float = 5.0
    max_pending: int = 20_000
    max_batch: int = 500
    commit_interval_s: float = 0.5


@dataclass(frozen=True, slots=True)
class Work:
    job: Job
    progress: PartitionProgress
    offset: int


def host_of(url: str) -> str:
    """The publisher host a URL template sends to (macros cannot stand in the host: configs.py)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname or "?"


class PublishFailed(RuntimeError):
    """The broker refused an attempt record: stop, so uncommitted inputs are consumed again."""


class DeliveryEngine:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        table: ConfigTable,
        deliverer: Deliverer,
        limits: EngineLimits,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._table = table
        self._deliverer = deliverer
        self._limits = limits
        self._tracker = OffsetTracker()
        self._scheduler: HostScheduler[Work] = HostScheduler(
            self._deliver,
            max_in_flight=limits.max_in_flight,
            per_host=limits.per_host,
            waiting_per_host=limits.waiting_per_host,
            max_line_wait_s=limits.max_line_wait_s,
        )
        self._pending = 0  # admitted outputs (attempts, dead letters) not yet acknowledged
        self._room = asyncio.Event()
        self._failure: BaseException | None = None
        self._stopping = False
        self._last_commit = time.monotonic()
        self._attempt_partitions = 1
        self._attempts: BatchPublisher[tuple[PartitionProgress, int]] = BatchPublisher(
            producer, topics.ATTEMPTS, self._batch_acked
        )

    @property
    def tracker(self) -> OffsetTracker:
        return self._tracker

    @property
    def pending(self) -> int:
        return self._pending

    async def run(self) -> None:
        """Consume until `stop()` (or cancellation); raises if the broker refused a record."""
        # Attempts are spread by attempt id, computed here: aiokafka's murmur2 partitioner in
        # pure Python was a visible share of the hot path.
        self._attempt_partitions = len(await self._producer.partitions_for(topics.ATTEMPTS))
        while not self._stopping:
            if self._pending >= self._limits.max_pending:
                await self._wait_for_room()
                continue
            # Never fetch more than the bound has room for (a record fires one postback in the
            # common case), so a batch cannot overshoot max_pending by max_batch.
            room = self._limits.max_pending - self._pending
            batches = await self._consumer.getmany(
                timeout_ms=100, max_records=min(self._limits.max_batch, room)
            )
            for partition, records in batches.items():
                for record in records:
                    await self._admit(partition, record)
                self._report_lag(partition, records)
            self._raise_failure()
            if time.monotonic() - self._last_commit >= self._limits.commit_interval_s:
                await self.commit()

    def stop(self) -> None:
        self._stopping = True
        self._room.set()

    async def _wait_for_room(self) -> None:
        paused = self._consumer.assignment()
        self._consumer.pause(*paused)
        metrics.PAUSED.set(1)
        try:
            while self._pending >= self._limits.max_pending and not self._stopping:
                self._room.clear()
                # Wakes on room, or every second to commit what finished meanwhile.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), 1.0)
                self._raise_failure()
                await self.commit()
        finally:
            self._consumer.resume(*(p for p in paused if p in self._consumer.assignment()))
            metrics.PAUSED.set(0)

    async def _admit(self, partition: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        decided = plan(self._table, record)
        parts = len(decided.jobs) + (decided.dead_letter is not None)
        progress = self._tracker.begin(partition, record.offset, parts)
        self._pending += parts
        if decided.dead_letter is not None:
            await self._publish(topics.DLQ, decided.dead_letter, progress, record.offset)
        for job in decided.jobs:
            work = Work(job, progress, record.offset)
            host = host_of(job.config.url)
            await self._submit(host, work)
        self._update_gauges()

    async def _submit(self, host: str, work: Work) -> None:
        while (admission := self._scheduler.submit(host, work)) is Admission.FULL:
            await self._scheduler.room(host)  # a healthy host's full line: backpressure
            self._raise_failure()
        if admission is Admission.OVERLOADED:
            running, waiting = self._scheduler.load(host)
            metrics.SHED.inc()
            job = work.job
            failure = HostOverloaded(host, running, waiting)
            await self._record(
                self._deliverer.unsent(job.config, job.message, failure, job.request), work
            )

    async def _deliver(self, work: Work) -> None:
        job = work.job
        attempt = await self._deliverer.fire_job(job.config, job.message, job.request)
        metrics.DELIVERY_SECONDS.observe(attempt.latency_ms / 1000)  # sent ones only
        await self._record(attempt, work)
        self._update_gauges()

    async def _record(self, attempt: Attempt, work: Work) -> None:
        metrics.count_attempt(
            attempt.status, attempt.postback_type, attempt.trigger, attempt.response_code
        )
        attempt_id = attempt.attempt_id
        await self._attempts.add(
            attempt_id.int % self._attempt_partitions,
            attempt_id.bytes,
            attempt.to_json(),
            (work.progress, work.offset),
        )

    async def _publish(
        self, topic: str, value: bytes, progress: PartitionProgress, offset: int
    ) -> None:
        """One record on its own (dead letters: rare, and on a topic of their own)."""
        acked = await self._producer.send(topic, value)
        acked.add_done_callback(
            lambda f: self._batch_acked(
                [(progress, offset)], None if f.cancelled() else f.exception()
            )
        )

    def _batch_acked(
        self, acks: list[tuple[PartitionProgress, int]], error: BaseException | None
    ) -> None:
        self._pending -= len(acks)
        if error is not None:
            # Never mark them done: the inputs stay uncommitted and are consumed again.
            reason = str(error) or type(error).__name__
            self._failure = self._failure or PublishFailed(
                f"the broker did not acknowledge a record: {reason}"
            )
        else:
            for progress, offset in acks:
                progress.finish_part(offset)
        if self._pending < self._limits.max_pending:
            self._room.set()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def commit(self) -> None:
        self._last_commit = time.monotonic()
        offsets = self._tracker.to_commit()
        if not offsets:
            return
        assigned = self._consumer.assignment()
        offsets = {p: o for p, o in offsets.items() if p in assigned}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:  # e.g. a rebalance took a partition: it will be re-read
            log.warning("offset commit failed, inputs after it may be fired again: %s", exc)
            return
        self._tracker.committed(offsets)

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        """Before a rebalance takes partitions: commit what is done; the rest is re-read by the
        next owner (at least once)."""
        await self.commit()
        self._tracker.forget(partitions)

    async def drain(self, grace_s: float) -> bool:
        """After `stop()`: let in-flight postbacks finish (at most `grace_s`), publish their
        attempts, commit. True when everything admitted finished in time."""
        idle = asyncio.ensure_future(self._scheduler.wait_idle())
        done, _ = await asyncio.wait({idle}, timeout=grace_s)
        finished = bool(done)
        if not finished:
            idle.cancel()
            log.warning(
                "shutdown: %d postbacks still in flight after %.1f s; their inputs stay "
                "uncommitted and will be fired again",
                self._scheduler.in_flight + self._scheduler.waiting,
                grace_s,
            )
            await self._scheduler.cancel_all()
        try:
            await self._attempts.close()
            await self._producer.flush()
        except KafkaError as exc:
            log.error("shutdown: could not publish every attempt: %s", exc)
            return False
        await self.commit()
        self._update_gauges()
        return finished and self._failure is None

    def _update_gauges(self) -> None:
        metrics.IN_FLIGHT.set(self._scheduler.in_flight)
        metrics.WAITING.set(self._scheduler.waiting)

    def _report_lag(
        self, partition: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        highwater = self._consumer.highwater(partition)
        if highwater is not None and records:
            lag = max(0, highwater - records[-1].offset - 1)
            metrics.CONSUMER_LAG.labels(partition.topic, str(partition.partition)).set(lag)
