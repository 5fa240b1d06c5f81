"""The engine's outputs, from admission to the broker's acknowledgement.

An input's outputs are its attempt records (one per attempt, retries included) and, for a
message that cannot be fired, its dead letter. Each is counted as pending from the moment its
input is admitted until the broker acknowledges it; the engine pauses consumption while
`max_pending` are pending (engine.py). An acknowledgement finishes the output's part of its
input (offsets.py), so the input's offset is committed only once all of its outputs are stored.
A refusal of the broker's (it is down, or does not answer in time) finishes nothing: the first one
is kept as `failure`, the engine raises it and stops, and the inputs concerned are consumed again
after the restart (at least once). A refusal of one record for what it is (RECORD_REFUSALS: too
large for the broker's limit, say) is contained instead: the attempt is published again without
its long texts (url, answer, input) and with an error saying why, so the attempt is still in the
log and the input is committed; a record refused even so is dropped with a log line and counted.
"""

from __future__ import annotations

import asyncio
from functools import partial

import orjson
from confluent_kafka import KafkaError, Message

from dispatcher.attempt import Attempt
from dispatcher.kafka_publisher import RECORD_REFUSALS, Done, KafkaPublisher, RecordRefused
from dispatcher.offsets import PartitionProgress
from dispatcher.work import PublishFailed
from postbacks import topics
from postbacks.attempts import TEXT_LIMITS, clipped
from postbacks.containment import contained

Ack = tuple[PartitionProgress, int]  # the input's progress, and its offset


class Outputs:
    def __init__(self, publisher: KafkaPublisher, max_pending: int) -> None:
        self._publisher = publisher
        self._max_pending = max_pending
        self.pending = 0
        self.room = asyncio.Event()  # set whenever pending drops below max_pending
        self.failure: PublishFailed | None = None
        self._attempt_partitions = 1
        self._slimming: set[asyncio.Future[None]] = set()  # slimmed attempts the queue delayed

    async def start(self) -> None:
        # Attempts are spread by attempt id, computed here: cheaper than any partitioner, and
        # the same attempt always lands on the same partition.
        self._attempt_partitions = await self._publisher.partitions(topics.ATTEMPTS)

    @property
    def full(self) -> bool:
        return self.pending >= self._max_pending

    @property
    def room_left(self) -> int:
        return self._max_pending - self.pending

    def expect(self, count: int) -> None:
        """`count` more outputs will come (an input admitted, a retry planned)."""
        self.pending += count

    def settle(self, count: int = 1) -> None:
        """`count` outputs stop being pending: acknowledged, refused, or never to come (an
        abandoned wait)."""
        self.pending -= count
        if not self.full:
            self.room.set()

    def offer_attempt(self, attempt: Attempt, ack: Ack) -> bool:
        """Queue the attempt's record now if the producer has room; False: `await attempt()`.
        (Once per postback: the common case costs no coroutine.)"""
        record = self._attempt_record(attempt.attempt_id, attempt.to_json(), ack)
        try:
            return self._publisher.offer(*record)
        except RecordRefused as exc:
            self._slim_down(record[1], ack, str(exc))
            self.settle()  # the refused record itself: never queued, so no report will come
            return True

    async def attempt(self, attempt: Attempt, ack: Ack) -> None:
        record = self._attempt_record(attempt.attempt_id, attempt.to_json(), ack)
        try:
            await self._publisher.publish(*record)
        except RecordRefused as exc:
            self._slim_down(record[1], ack, str(exc))
            self.settle()

    def _attempt_record(
        self, attempt_id: str, value: bytes, ack: Ack, done: Done | None = None
    ) -> tuple[str, bytes, Done, bytes, int]:
        return (
            topics.ATTEMPTS,
            value,
            done or partial(self._acked, ack),
            attempt_id.encode(),
            int(attempt_id[:8], 16) % self._attempt_partitions,  # its first 32 random bits
        )

    def _slim_down(self, value: bytes, ack: Ack, refusal: str) -> None:
        """Publish a refused attempt again without its long texts, saying why in `error`;
        its input stays pending until this one is acknowledged (or refused too)."""
        record = orjson.loads(value)
        attempt_id = record["attempt_id"]
        reason = f"the broker refused the attempt record ({refusal})"
        where = f"attempt {attempt_id}, published again without url, answer and input"
        contained("dispatcher", "publish", where, ValueError(reason))
        record |= {"url": clipped(record["url"], 1024), "server_response": "", "source": ""}
        record["error"] = clipped(f"{record['error']}; {reason}".lstrip("; "), TEXT_LIMITS["error"])
        slim = self._attempt_record(attempt_id, orjson.dumps(record), ack, partial(self._last, ack))
        self.expect(1)
        try:
            queued = self._publisher.offer(*slim)
        except RecordRefused as exc:
            self._last(ack, KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, str(exc)), None)
            return
        if not queued:  # librdkafka's queue is full: a moment later, off this callback
            task = asyncio.ensure_future(self._publisher.publish(*slim))
            self._slimming.add(task)
            task.add_done_callback(self._slimming.discard)

    async def dead_letter(self, value: bytes, ack: Ack) -> None:
        try:
            await self._publisher.publish(topics.DLQ, value, partial(self._last, ack))
        except RecordRefused as exc:
            self._last(ack, KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, str(exc)), None)

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    async def flush(self, timeout_s: float) -> None:
        """Until the broker has answered for every output (raises PublishTimeout if not)."""
        await self._publisher.flush(timeout_s)

    def _acked(self, ack: Ack, error: KafkaError | None, message: Message | None) -> None:
        if error is None:
            progress, offset = ack
            progress.finish_part(offset)
        elif error.code() in RECORD_REFUSALS and message is not None:
            if message.topic() == topics.ATTEMPTS:
                self._slim_down(message.value() or b"{}", ack, error.str())
            else:  # a dead letter: it holds at most 64 KiB of the input, so this is unforeseen
                self._last(ack, error, message)
                return
        else:
            self._stop(error)
        self.settle()

    def _last(self, ack: Ack, error: KafkaError | None, _: Message | None) -> None:
        """A slimmed attempt or a dead letter: the last try, whatever the broker says of it."""
        progress, offset = ack
        if error is None:
            progress.finish_part(offset)
        elif error.code() in RECORD_REFUSALS:
            exc = ValueError(f"the broker refused a record even slimmed down: {error.str()}")
            contained("dispatcher", "publish", f"input offset {offset}", exc)
            progress.finish_part(offset)
        else:
            self._stop(error)
        self.settle()

    def _stop(self, error: KafkaError) -> None:
        # Never mark it done: the input stays uncommitted and is consumed again.
        reason = error.str() or error.name()
        self.failure = self.failure or PublishFailed(
            f"the broker did not acknowledge a record: {reason}"
        )
