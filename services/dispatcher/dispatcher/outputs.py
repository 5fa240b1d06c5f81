"""The engine's outputs, from admission to the broker's acknowledgement.

An input's outputs are its attempt records (one per attempt, retries included) and, for a
message that cannot be fired, its dead letter. Each is counted as pending from the moment its
input is admitted until the broker acknowledges it; the engine pauses consumption while
`max_pending` are pending (engine.py). An acknowledgement finishes the output's part of its
input (offsets.py), so the input's offset is committed only once all of its outputs are stored.
A refusal finishes nothing: the first one is kept as `failure`, the engine raises it and stops,
and the inputs concerned are consumed again after the restart (at least once).
"""

from __future__ import annotations

import asyncio
from functools import partial

from confluent_kafka import KafkaError, Message

from dispatcher.attempt import Attempt
from dispatcher.kafka_publisher import Done, KafkaPublisher
from dispatcher.offsets import PartitionProgress
from dispatcher.work import PublishFailed
from postbacks import topics

Ack = tuple[PartitionProgress, int]  # the input's progress, and its offset


class Outputs:
    def __init__(self, publisher: KafkaPublisher, max_pending: int) -> None:
        self._publisher = publisher
        self._max_pending = max_pending
        self.pending = 0
        self.room = asyncio.Event()  # set whenever pending drops below max_pending
        self.failure: PublishFailed | None = None
        self._attempt_partitions = 1

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
        return self._publisher.offer(*self._attempt_record(attempt, ack))

    async def attempt(self, attempt: Attempt, ack: Ack) -> None:
        await self._publisher.publish(*self._attempt_record(attempt, ack))

    def _attempt_record(self, attempt: Attempt, ack: Ack) -> tuple[str, bytes, Done, bytes, int]:
        attempt_id = attempt.attempt_id
        return (
            topics.ATTEMPTS,
            attempt.to_json(),
            partial(self._acked, ack),
            attempt_id.encode(),
            int(attempt_id[:8], 16) % self._attempt_partitions,  # its first 32 random bits
        )

    async def dead_letter(self, value: bytes, ack: Ack) -> None:
        await self._publisher.publish(topics.DLQ, value, partial(self._acked, ack))

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    async def flush(self, timeout_s: float) -> None:
        """Until the broker has answered for every output (raises PublishTimeout if not)."""
        await self._publisher.flush(timeout_s)

    def _acked(self, ack: Ack, error: KafkaError | None, _: Message) -> None:
        if error is not None:
            # Never mark it done: the input stays uncommitted and is consumed again.
            reason = error.str() or error.name()
            self.failure = self.failure or PublishFailed(
                f"the broker did not acknowledge a record: {reason}"
            )
        else:
            progress, offset = ack
            progress.finish_part(offset)
        self.settle()
