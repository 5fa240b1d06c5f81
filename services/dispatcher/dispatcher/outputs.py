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

from aiokafka import AIOKafkaProducer

from dispatcher.attempt import Attempt
from dispatcher.offsets import PartitionProgress
from dispatcher.publishing import BatchPublisher
from dispatcher.work import PublishFailed
from postbacks import topics

Ack = tuple[PartitionProgress, int]  # the input's progress, and its offset


class Outputs:
    def __init__(self, producer: AIOKafkaProducer, max_pending: int) -> None:
        self._producer = producer
        self._max_pending = max_pending
        self.pending = 0
        self.room = asyncio.Event()  # set whenever pending drops below max_pending
        self.failure: PublishFailed | None = None
        self._attempts: BatchPublisher[Ack] = BatchPublisher(producer, topics.ATTEMPTS, self._acked)
        self._attempt_partitions = 1

    async def start(self) -> None:
        # Attempts are spread by attempt id, computed here: aiokafka's murmur2 partitioner in
        # pure Python was a visible share of the hot path.
        self._attempt_partitions = len(await self._producer.partitions_for(topics.ATTEMPTS))

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

    async def attempt(self, attempt: Attempt, ack: Ack) -> None:
        attempt_id = attempt.attempt_id
        await self._attempts.add(
            attempt_id.int % self._attempt_partitions, attempt_id.bytes, attempt.to_json(), ack
        )

    async def dead_letter(self, value: bytes, ack: Ack) -> None:
        """One record on its own (dead letters: rare, and on a topic of their own)."""
        acked = await self._producer.send(topics.DLQ, value)
        acked.add_done_callback(
            lambda f: self._acked([ack], None if f.cancelled() else f.exception())
        )

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    async def flush(self) -> None:
        """Hand every open batch to the producer and wait until the broker has answered."""
        await self._attempts.close()
        await self._producer.flush()

    def _acked(self, acks: list[Ack], error: BaseException | None) -> None:
        if error is not None:
            # Never mark them done: the inputs stay uncommitted and are consumed again.
            reason = str(error) or type(error).__name__
            self.failure = self.failure or PublishFailed(
                f"the broker did not acknowledge a record: {reason}"
            )
        else:
            for progress, offset in acks:
                progress.finish_part(offset)
        self.settle(len(acks))
