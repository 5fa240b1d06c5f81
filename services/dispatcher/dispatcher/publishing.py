"""Attempt records onto `postbacks.attempts` in batches, one acknowledgement per batch.

`AIOKafkaProducer.send()` costs a future, a partitioner call and accumulator bookkeeping per
record; at thousands of postbacks a second that was a visible share of the dispatcher's
time. Here records go into one open batch per partition (aiokafka's `create_batch()`, whose
encoder is compiled), and each batch is handed to the producer once it is full or
`linger_s` after its first record. The broker acknowledges the batch as a whole; `on_done`
then gets every record's ack token and the error, if any, so the engine can finish (or
refuse to finish) exactly the inputs whose attempts are now stored: acks still gate commits
per input.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder

log = logging.getLogger(__name__)

A = TypeVar("A")  # what the caller needs back when a record is acknowledged
Done = Callable[[list[A], BaseException | None], None]


class _Open(Generic[A]):
    __slots__ = ("acks", "builder")

    def __init__(self, builder: BatchBuilder) -> None:
        self.builder = builder
        self.acks: list[A] = []


class BatchPublisher(Generic[A]):
    def __init__(
        self, producer: AIOKafkaProducer, topic: str, on_done: Done[A], linger_s: float = 0.005
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._on_done = on_done
        self._linger_s = linger_s
        self._open: dict[int, _Open[A]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()

    async def add(self, partition: int, key: bytes | None, value: bytes, ack: A) -> None:
        """Queue one record; waits only when the producer's buffer for the partition is full."""
        batch = self._open.get(partition)
        if batch is None:
            batch = self._open[partition] = _Open(self._producer.create_batch())
        elif batch.builder.append(key=key, value=value, timestamp=None) is not None:
            batch.acks.append(ack)
            return
        else:  # full: send it and start another
            await self._send(partition)
            batch = self._open[partition] = _Open(self._producer.create_batch())
        if batch.builder.append(key=key, value=value, timestamp=None) is None:
            # Larger than a whole batch (max_batch_size): the producer sends it on its own.
            del self._open[partition]
            acked = await self._producer.send(self._topic, value, key=key, partition=partition)
            acked.add_done_callback(lambda f: self._on_done([ack], _error(f)))
            return
        batch.acks.append(ack)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._linger_s, self._linger_over)

    def _linger_over(self) -> None:
        self._timer = None
        task = asyncio.create_task(self.flush())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def flush(self) -> None:
        """Hand every open batch to the producer now (not waiting for acknowledgements)."""
        for partition in list(self._open):
            await self._send(partition)

    async def _send(self, partition: int) -> None:
        batch = self._open.pop(partition, None)
        if batch is None or not batch.acks:
            return
        acks = batch.acks
        try:
            acked = await self._producer.send_batch(batch.builder, self._topic, partition=partition)
        except Exception as exc:  # e.g. timed out waiting for buffer room, producer closed
            self._on_done(acks, exc)
            return
        acked.add_done_callback(lambda f: self._on_done(acks, _error(f)))

    async def close(self) -> None:
        """Send what is open and wait until every batch is with the producer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.flush()
        if self._sending:
            await asyncio.gather(*list(self._sending), return_exceptions=True)


def _error(acked: asyncio.Future[object]) -> BaseException | None:
    if acked.cancelled():
        return asyncio.CancelledError("the producer cancelled the batch")
    return acked.exception()
