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
  consumer pauses every partition, and resumes once below it. librdkafka's prefetch is
  bounded in bytes (kafka_inputs.py), so no queue anywhere grows without bound.

At least once: an input's offset is committed only when all its attempts (or its dead letter)
are acknowledged by the broker (offsets.py counts them until then, the same count that bounds
`max_pending`; outputs.py reports each acknowledgement to it). After a crash the uncommitted
inputs are consumed again and their postbacks re-sent; each request carries
X-Postback-Attempt-Id.

Delays and retries (issue 9 item 5, off by default): a postback whose configuration asks for a
delay, or whose failed attempt its retry policy tries again (retry_policy.py), waits as a timer
(timed_waits.py) holding no HTTP slot. Each attempt is published at once as its own record; a
retry adds one output to its input before the failed attempt is published, so the input's
offset is committed only after its last attempt is acknowledged, and the wait counts toward
`max_pending`. At shutdown a wait that cannot end within the grace period is abandoned and its
input left uncommitted: it is consumed again after the restart and fired from attempt 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from confluent_kafka import KafkaException

from dispatcher import metrics
from dispatcher.attempt import Attempt
from dispatcher.config_table import ConfigTable
from dispatcher.delivery import Deliverer, Outcome
from dispatcher.failures import HostOverloaded
from dispatcher.kafka_inputs import KafkaInputs, Record
from dispatcher.kafka_publisher import KafkaPublisher, PublishTimeout
from dispatcher.offsets import OffsetTracker, Partition
from dispatcher.outputs import Outputs
from dispatcher.processing import plan
from dispatcher.retry_policy import next_retry_ms
from dispatcher.scheduler import Admission, HostScheduler
from dispatcher.timed_waits import TimedWaits
from dispatcher.work import EngineLimits, PublishFailed, Work
from postbacks.containment import contained, record_name

log = logging.getLogger(__name__)


class DeliveryEngine:
    def __init__(
        self,
        inputs: KafkaInputs,
        producer: KafkaPublisher,
        table: ConfigTable,
        deliverer: Deliverer,
        limits: EngineLimits,
    ) -> None:
        self._inputs = inputs
        self._table = table
        self._deliverer = deliverer
        self._limits = limits
        self._tracker = OffsetTracker(limits.max_pending)
        self._scheduler: HostScheduler[Work] = HostScheduler(
            self._deliver,
            max_in_flight=limits.max_in_flight,
            per_host=limits.per_host,
            waiting_per_host=limits.waiting_per_host,
            max_line_wait_s=limits.max_line_wait_s,
        )
        self._outputs = Outputs(producer)
        self._waits: TimedWaits[Work] = TimedWaits(self._wait_over, self._abandon)
        self._resubmits: set[asyncio.Task[None]] = set()  # due waits that met a full line
        self._stopping = False
        self._last_commit = time.monotonic()
        metrics.IN_FLIGHT.set_function(lambda: self._scheduler.in_flight)
        metrics.WAITING.set_function(lambda: self._scheduler.waiting)
        metrics.TIMED_WAITS.set_function(lambda: len(self._waits))

    async def run(self) -> None:
        """Consume until `stop()` (or cancellation); raises if the broker refused a record."""
        await self._outputs.start()
        while not self._stopping:
            if self._tracker.full:
                await self._wait_for_room()
                continue
            # Never fetch more than the bound has room for (a record fires one postback in the
            # common case), so a batch cannot overshoot max_pending by max_batch.
            records = await self._inputs.fetch(min(self._limits.max_batch, self._tracker.room_left))
            if records:
                await self._admit_all(records)
                self._report_lag(records)
            self._outputs.raise_failure()
            if time.monotonic() - self._last_commit >= self._limits.commit_interval_s:
                self.commit()

    def stop(self) -> None:
        self._stopping = True
        self._tracker.room.set()

    async def _wait_for_room(self) -> None:
        self._inputs.pause()
        metrics.PAUSED.set(1)
        try:
            while self._tracker.full and not self._stopping:
                self._tracker.room.clear()
                # Wakes on room, or every second to commit what finished meanwhile and to let
                # the consumer run its callbacks (a rebalance waits for them).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._tracker.room.wait(), 1.0)
                # Every partition is paused, so this normally returns nothing; a record it does
                # return (fetched before the pause took) is admitted, never dropped.
                await self._admit_all(await self._inputs.fetch(1))
                self._outputs.raise_failure()
                self.commit()
        finally:
            self._inputs.resume()
            metrics.PAUSED.set(0)

    async def _admit_all(self, records: list[Record]) -> None:
        metrics.count_inputs(r.topic for r in records)  # once per batch: see count_inputs
        for record in records:
            await self._admit(record)

    async def _admit(self, record: Record) -> None:
        decided = plan(self._table, record)
        parts = len(decided.jobs) + (decided.dead_letter is not None)
        partition = Partition(record.topic, record.partition)
        progress = self._tracker.begin(partition, record.offset, parts)
        if decided.dead_letter is not None:
            await self._outputs.dead_letter(decided.dead_letter, (progress, record.offset))
        for job in decided.jobs:
            work = Work(job, progress, record.offset)
            if job.config.delay_ms and job.request is None:
                self._waits.add(job.config.delay_ms / 1000, job.host, work)
            else:
                await self._submit(job.host, work)

    async def _submit(self, host: str, work: Work) -> None:
        while (admission := self._scheduler.submit(host, work)) is Admission.FULL:
            await self._scheduler.room(host)  # a healthy host's full line: backpressure
            self._outputs.raise_failure()
        if admission is Admission.OVERLOADED:
            running, waiting = self._scheduler.load(host)
            metrics.SHED.inc()
            failure = HostOverloaded(host, running, waiting)
            await self._record(self._unsent(work, str(failure)), work)

    async def _deliver(self, work: Work) -> None:
        """Fire one postback and record its attempt. With `_unsent` and `_record`, the one
        place a postback is contained: whatever goes wrong unforeseen while firing it becomes
        its Failed attempt, and an attempt that cannot be published is given up, logged."""
        job = work.job
        try:
            outcome = await self._deliverer.fire_job(
                job.config, job.message, job.request, work.attempt_number
            )
        except Exception as exc:  # see postbacks.containment
            reason = _contained(work, "delivery", exc)
            await self._record(self._unsent(work, reason, rendered=False), work)
            return
        attempt = outcome.attempt
        metrics.DELIVERY_SECONDS.observe(attempt.latency_ms / 1000)  # sent ones only
        # One comparison when retries are off (the default): retry_max_attempts is 1.
        if job.config.retry_max_attempts > work.attempt_number and job.request is None:
            try:
                self._maybe_retry(work, outcome)
            except Exception as exc:  # the answer stays as it came; only its retry is lost
                _contained(work, "retry", exc)
        await self._record(attempt, work)

    def _unsent(self, work: Work, error: str, *, rendered: bool = True) -> Attempt:
        """The Failed attempt of a postback not sent; with its URL as configured if rendering
        it fails too."""
        job = work.job
        try:
            return self._deliverer.unsent(
                job.config, job.message, error, job.request, work.attempt_number, rendered=rendered
            )
        except Exception as exc:  # see postbacks.containment
            error = f"{error}; {_contained(work, 'delivery', exc)}"
            return self._deliverer.unsent(
                job.config, job.message, error, job.request, work.attempt_number, rendered=False
            )

    def _maybe_retry(self, work: Work, outcome: Outcome) -> None:
        delay_ms = next_retry_ms(work.job.config, work.attempt_number, outcome)
        if delay_ms is None:
            return
        # Before the failed attempt is published: its acknowledgement must not finish the input.
        work.progress.add_part(work.offset)
        metrics.RETRIES.inc()
        retry = Work(work.job, work.progress, work.offset, work.attempt_number + 1)
        self._waits.add(delay_ms / 1000, work.job.host, retry)

    def _wait_over(self, host: str, work: Work) -> None:
        """A delay or backoff ended: to its host's slots, or (line full) through `_submit`."""
        if self._scheduler.submit(host, work) is not Admission.ACCEPTED:
            task = asyncio.create_task(self._resubmit(host, work))
            self._resubmits.add(task)
            task.add_done_callback(self._resubmits.discard)

    async def _resubmit(self, host: str, work: Work) -> None:
        with contextlib.suppress(PublishFailed):  # run() raises it too, and stops
            await self._submit(host, work)

    def _abandon(self, work: Work) -> None:
        """A wait that will not fire: its input is never marked done, so never committed."""
        work.progress.abandon_part(work.offset)

    async def _record(self, attempt: Attempt, work: Work) -> None:
        ack = (work.progress, work.offset)
        try:
            metrics.count_attempt(
                attempt.status, attempt.postback_type, attempt.trigger, attempt.response_code
            )
            if not self._outputs.offer_attempt(attempt, ack):  # the producer's queue is full
                await self._outputs.attempt(attempt, ack)
        except KafkaException as exc:  # the producer failed, not this record: stop
            self._outputs.fail(ack, str(exc))
        except Exception as exc:  # see postbacks.containment
            self._outputs.give_up(ack, _contained(work, "publish", exc))

    def commit(self) -> None:
        """Commit, without waiting for the answer, every assigned partition's progress since
        the last commit (and again any whose last commit failed)."""
        self._last_commit = time.monotonic()
        self._tracker.uncommitted(self._inputs.failed_commits())
        offsets = self._committable()
        if offsets:
            self._inputs.commit(offsets)
            self._tracker.committed(offsets)

    def _commit_now(self, partitions: set[Partition]) -> bool:
        """Commit these partitions' progress and wait for the answer (a revocation, shutdown).
        Named again even if committed before: an asynchronous commit may still fail."""
        self._tracker.uncommitted(partitions)
        return self._inputs.commit_now(self._committable(partitions))

    def _committable(self, only: set[Partition] | None = None) -> dict[Partition, int]:
        assigned = self._inputs.assigned if only is None else self._inputs.assigned & only
        return {p: o for p, o in self._tracker.to_commit().items() if p in assigned}

    def revoked(self, partitions: set[Partition], lost: bool) -> None:
        """Partitions taken by a rebalance (the consumer calls this): commit what is done,
        unless they were lost to another member already; the rest is re-read by the next
        owner (at least once)."""
        if not lost:
            self._commit_now(partitions)
        # Waits of those inputs are the next owner's now: it consumes them again.
        gone = set(self._tracker.progress_of(partitions))
        self._waits.abandon_where(lambda _, work: work.progress in gone)
        self._tracker.forget(partitions)
        # Their lag is the next owner's to report: a stale value here would be summed with its
        # own across replicas and could hold the lag alert up for ever.
        for topic, number in partitions:
            with contextlib.suppress(KeyError):  # no lag reported for it yet
                metrics.CONSUMER_LAG.remove(topic, str(number))

    async def drain(self, grace_s: float) -> bool:
        """After `stop()`: let in-flight postbacks finish (at most `grace_s`), publish their
        attempts, commit. True when everything admitted finished in time.

        Delays and retries due within `grace_s` still fire; later ones are abandoned at once
        (their inputs stay uncommitted and are consumed again after the restart)."""
        deadline = asyncio.get_running_loop().time() + grace_s
        self._waits.close(deadline)
        settled = asyncio.ensure_future(self._settle())
        done, _ = await asyncio.wait({settled}, timeout=grace_s)
        finished = bool(done) and not self._waits.late
        if self._waits.late:
            log.warning(
                "shutdown: %d postbacks waiting for a delay or retry due after the %.1f s grace "
                "period abandoned; their inputs stay uncommitted and will be fired again",
                self._waits.late,
                grace_s,
            )
        if not done:
            settled.cancel()
            log.warning(
                "shutdown: %d postbacks still in flight after %.1f s; their inputs stay "
                "uncommitted and will be fired again",
                self._scheduler.in_flight + self._scheduler.waiting + len(self._resubmits),
                grace_s,
            )
            self._waits.abandon_where(lambda _, __: True)
            for task in list(self._resubmits):
                task.cancel()
            await self._scheduler.cancel_all()
        try:
            await self._outputs.flush(grace_s)
        except (KafkaException, PublishTimeout) as exc:
            log.error("shutdown: could not publish every attempt: %s", exc)
            return False
        committed = self._commit_now(self._inputs.assigned)
        return committed and finished and self._outputs.failure is None

    async def _settle(self) -> None:
        """Until nothing is sent, waits for a slot, or waits for its delay or backoff."""
        loop = asyncio.get_running_loop()
        while True:
            await self._scheduler.wait_idle()
            if self._resubmits:
                await asyncio.gather(*list(self._resubmits), return_exceptions=True)
                continue
            due = self._waits.next_due()
            if due is None:
                return
            await asyncio.sleep(max(0.0, due - loop.time()))

    def _report_lag(self, records: list[Record]) -> None:
        """Lag of each partition in the batch, after its last record."""
        # Keyed by plain tuples: _admit already builds a Partition per record, and here one is
        # built per partition of the batch, not per record again.
        last = {(r.topic, r.partition): r.offset for r in records}
        for (topic, number), offset in last.items():
            highwater = self._inputs.high_watermark(Partition(topic, number))
            if highwater is not None:
                lag = max(0, highwater - offset - 1)
                metrics.CONSUMER_LAG.labels(topic, str(number)).set(lag)


def _contained(work: Work, stage: str, exc: Exception) -> str:
    topic, partition = work.progress.partition
    where = f"postback {work.job.config.id} for {record_name(topic, partition, work.offset)}"
    return contained("dispatcher", stage, where, exc)
