"""The engine's outputs, from admission to the broker's acknowledgement.

An input's outputs are its attempt records (one per attempt, retries included) and, for a
message that cannot be fired, its dead letter. Each is pending in its input's progress
(offsets.py, the one account of what is pending and what may be committed) until its delivery
report ends it there: an acknowledgement finishes it, so the input's offset is committed only
once all of its outputs are stored.

A refusal of the broker's (it is down, or does not answer in time) abandons the output: the
first one is kept as `failure`, the engine raises it and stops, and the inputs concerned are
consumed again after the restart (at least once). A refusal for what a record is
(RECORD_REFUSALS: too large for the broker's limit, say) is contained instead, the output
staying pending while it is published again:
- librdkafka refusing it at once (larger than message.max.bytes): the attempt is published again
  without its long texts (url, answer, input) and with an error saying why; if even that is
  refused, it is given up with a log line and the counter, and its input committed;
- the broker refusing it: the broker refuses a whole batch for one record too large, so it is
  first sent again unchanged, then slimmed down as above; a slimmed one the broker refuses too
  stops the engine like any other refusal (its inputs are consumed again), never silently lost.
Each delivery report ends its output exactly once, whatever happens inside it: an unforeseen
error there abandons it and stops the engine (at least once) instead of leaving it pending.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial

import orjson
from confluent_kafka import KafkaError, Message

from dispatcher.attempt import Attempt
from dispatcher.kafka_publisher import RECORD_REFUSALS, Done, KafkaPublisher, RecordRefused
from dispatcher.offsets import PartitionProgress
from dispatcher.work import PublishFailed
from postbacks import topics
from postbacks.attempts import TEXT_LIMITS, clipped
from postbacks.containment import contained, record_name

Ack = tuple[PartitionProgress, int]  # the input's progress, and its offset
Record = tuple[str, bytes, Done, bytes, int]  # topic, value, done, key, partition
Report = Callable[[Ack, KafkaError | None, Message | None], None]  # a delivery report's handler
SLIM_URL_LIMIT = 1024


class Outputs:
    def __init__(self, publisher: KafkaPublisher) -> None:
        self._publisher = publisher
        self.failure: PublishFailed | None = None
        self._attempt_partitions = 1
        self._later: set[asyncio.Future[None]] = set()  # republished records the queue delayed

    async def start(self) -> None:
        # Attempts are spread by attempt id, computed here: cheaper than any partitioner, and
        # the same attempt always lands on the same partition.
        self._attempt_partitions = await self._publisher.partitions(topics.ATTEMPTS)

    def offer_attempt(self, attempt: Attempt, ack: Ack) -> bool:
        """Queue the attempt's record now if the producer has room; False: `await attempt()`.
        (Once per postback: the common case costs no coroutine.)"""
        record = self._attempt_record(attempt.attempt_id, attempt.to_json(), ack)
        try:
            return self._publisher.offer(*record)
        except RecordRefused as exc:
            self._slim_down(record[1], ack, str(exc))
            return True

    async def attempt(self, attempt: Attempt, ack: Ack) -> None:
        record = self._attempt_record(attempt.attempt_id, attempt.to_json(), ack)
        try:
            await self._publisher.publish(*record)
        except RecordRefused as exc:
            self._slim_down(record[1], ack, str(exc))

    async def dead_letter(self, value: bytes, ack: Ack) -> None:
        try:
            await self._publisher.publish(topics.DLQ, value, partial(self._last, ack))
        except RecordRefused as exc:
            self.give_up(ack, f"the broker refused a dead letter: {exc}")

    def give_up(self, ack: Ack, reason: str) -> None:
        """An output that cannot be published at all: counted, logged, and finished, so the
        input is committed instead of holding its partition forever."""
        progress, offset = ack
        topic, partition = progress.partition
        where = record_name(topic, partition, offset)
        contained("dispatcher", "publish", where, ValueError(reason))
        progress.finish_part(offset)

    def fail(self, ack: Ack, reason: str) -> None:
        """An output not published for a reason other than the record itself (the broker or
        the producer failed, or an unforeseen error): stop. The output is abandoned, never
        finished, so its input stays uncommitted and is consumed again after the restart."""
        self.failure = self.failure or PublishFailed(
            f"the broker did not acknowledge a record: {reason}"
        )
        ack[0].abandon_part(ack[1])

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    async def flush(self, timeout_s: float) -> None:
        """Until the broker has answered for every output (raises PublishTimeout if not)."""
        await self._publisher.flush(timeout_s)

    def _attempt_record(
        self, attempt_id: str, value: bytes, ack: Ack, done: Done | None = None
    ) -> Record:
        return (
            topics.ATTEMPTS,
            value,
            done or partial(self._acked, ack),
            attempt_id.encode(),
            int(attempt_id[:8], 16) % self._attempt_partitions,  # its first 32 random bits
        )

    # --- delivery reports: librdkafka calls these from poll(), on the loop's thread -----------
    # Each ends its output (finish_part, give_up or fail) unless it publishes it again.

    def _acked(self, ack: Ack, error: KafkaError | None, message: Message | None) -> None:
        """An attempt's record as it was first published. (Once per postback.)"""
        try:
            if error is None:
                ack[0].finish_part(ack[1])
            elif error.code() in RECORD_REFUSALS and message is not None:
                # Perhaps refused with its batch for another record: once more, unchanged.
                value = message.value() or b"{}"
                done = partial(self._reported, self._sent_again, ack)
                self._republish(self._attempt_record(_attempt_id(value), value, ack, done), ack)
            else:
                self.fail(ack, _broker_reason(error))
        except Exception as exc:  # see postbacks.containment
            self._unforeseen(ack, exc)

    def _last(self, ack: Ack, error: KafkaError | None, message: Message | None) -> None:
        """A dead letter or a slimmed attempt: the last try, whatever the broker says of it."""
        self._reported(self._finish_or_fail, ack, error, message)

    def _reported(
        self, handle: Report, ack: Ack, error: KafkaError | None, message: Message | None
    ) -> None:
        try:
            handle(ack, error, message)
        except Exception as exc:  # see postbacks.containment
            self._unforeseen(ack, exc)

    def _sent_again(self, ack: Ack, error: KafkaError | None, message: Message | None) -> None:
        if error is not None and error.code() in RECORD_REFUSALS and message is not None:
            self._slim_down(message.value() or b"{}", ack, error.str())
        else:
            self._finish_or_fail(ack, error, message)

    def _finish_or_fail(self, ack: Ack, error: KafkaError | None, _: Message | None) -> None:
        if error is None:
            ack[0].finish_part(ack[1])
        else:
            self.fail(ack, _broker_reason(error))

    def _slim_down(self, value: bytes, ack: Ack, refusal: str) -> None:
        """Publish a refused attempt again without its long texts, saying why in `error`; its
        input stays pending until this one is acknowledged."""
        record = orjson.loads(value)
        reason = f"the broker refused the attempt record ({refusal})"
        record |= {
            "url": clipped(record["url"], SLIM_URL_LIMIT),
            "server_response": "",
            "source": "",
            "error": clipped(f"{record['error']}; {reason}".lstrip("; "), TEXT_LIMITS["error"]),
        }
        attempt_id = record["attempt_id"]
        where = f"attempt {attempt_id}, published again without url, answer and input"
        contained("dispatcher", "publish", where, ValueError(reason))
        slim = orjson.dumps(record)
        self._republish(self._attempt_record(attempt_id, slim, ack, partial(self._last, ack)), ack)

    def _republish(self, record: Record, ack: Ack) -> None:
        """The same output once more, queued now, or a moment later off this callback when
        librdkafka's queue is full."""
        try:
            if self._publisher.offer(*record):
                return
        except RecordRefused as exc:
            self.give_up(ack, f"the broker refused the attempt record even slimmed down: {exc}")
            return
        task = asyncio.ensure_future(self._publish_later(record, ack))
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def _publish_later(self, record: Record, ack: Ack) -> None:
        try:
            await self._publisher.publish(*record)
        except RecordRefused as exc:
            self.give_up(ack, f"the broker refused the attempt record even slimmed down: {exc}")
        except Exception as exc:  # see postbacks.containment
            self._unforeseen(ack, exc)

    def _unforeseen(self, ack: Ack, exc: Exception) -> None:
        progress, offset = ack
        topic, partition = progress.partition
        where = f"the delivery report of {record_name(topic, partition, offset)}"
        self.fail(ack, contained("dispatcher", "publish", where, exc))


def _broker_reason(error: KafkaError) -> str:
    return str(error.str() or error.name())


def _attempt_id(value: bytes) -> str:
    found: object = orjson.loads(value).get("attempt_id")
    if not isinstance(found, str):
        raise TypeError("an attempt record without its attempt_id")
    return found
