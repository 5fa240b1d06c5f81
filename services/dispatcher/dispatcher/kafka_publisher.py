"""Attempt records and dead letters onto Kafka through librdkafka (confluent-kafka).

The dispatcher's event loop is its bottleneck. With aiokafka, building batches, encoding
produce requests and reading their answers ran on that loop: about 8 % of its time in the
profile (services/dispatcher/README.md). librdkafka does all of it in its own C threads; the
loop only hands over each record (`produce()`) and runs the delivery reports.

Delivery reports run on the loop's thread, like the rest of the engine's bookkeeping: a task
calls `poll(0)` every `poll_interval_s`, and librdkafka calls each record's `done` from inside
that call. acks=all, so an acknowledged attempt survives a broker failover before its input is
committed; no idempotence, because the embedded broker (Tansu) refuses InitProducerId. A
produce that the broker refuses or does not answer is retried by librdkafka until
`delivery.timeout.ms`; a record it gives up on reports its error, and the engine stops without
committing it (outputs.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from postbacks.kafka_connection import KafkaConnection
from postbacks.ops_server import BROKER_SILENT, CHECK_TIMEOUT_S

log = logging.getLogger(__name__)
# librdkafka's delivery report: the error (None once stored) and the record. Called as it is,
# with no wrapper of ours: at thousands of records a second, a closure per record showed.
Done = Callable[[KafkaError | None, Message], None]


class PublishTimeout(TimeoutError):
    """Records were still unacknowledged when a flush ran out of time."""


# Refusals of one record for what it is (too large, malformed), not for the broker's state:
# sending it again changes nothing, and other records go through meanwhile.
RECORD_REFUSALS = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.POLICY_VIOLATION,
    }
)


class RecordRefused(ValueError):
    """librdkafka refused one record at once, for what it is (RECORD_REFUSALS)."""


class KafkaPublisher:
    def __init__(
        self,
        kafka: KafkaConnection,
        client_id: str = "dispatcher",
        poll_interval_s: float = 0.002,
        queue_records: int = 100_000,
        message_max_bytes: int = 1_000_000,
    ) -> None:
        self._producer = Producer(
            {
                **kafka.librdkafka(),
                "client.id": client_id,
                "acks": "all",
                "enable.idempotence": False,
                # Records arrive a few at a time from many requests: a short linger makes
                # batches of them without delaying any acknowledgement noticeably.
                "linger.ms": 5,
                # lz4 halves the bytes of these few-record batches for a sixth of zstd's CPU
                # (bench/README.md, `compression`).
                "compression.type": "lz4",
                # Records not yet acknowledged; past it offer() is refused (librdkafka's default;
                # max_pending keeps the engine well below it).
                "queue.buffering.max.messages": queue_records,
                # A record past it is refused at once (RecordRefused), as the broker would.
                "message.max.bytes": message_max_bytes,
            },
            logger=log,  # librdkafka's own log lines, through logging instead of stderr
        )
        self._poll_interval_s = poll_interval_s
        self._poller: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._poller = asyncio.create_task(self._poll_forever(), name="kafka-delivery-reports")

    async def partitions(self, topic: str, timeout_s: float = 10.0) -> int:
        """How many partitions `topic` has (a metadata request, in a thread: it blocks)."""
        metadata = await asyncio.to_thread(self._producer.list_topics, topic, timeout_s)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            raise KafkaException(
                found.error if found else KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)
            )
        return len(found.partitions)

    def offer(
        self, topic: str, value: bytes, done: Done, key: bytes | None = None, partition: int = -1
    ) -> bool:
        """Queue one record now, if librdkafka's queue has room (False: `publish` it instead).
        No coroutine: this runs once per postback."""
        try:
            self._producer.produce(topic, value, key, partition, on_delivery=done)
        except BufferError:
            return False
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() in RECORD_REFUSALS:
                raise RecordRefused(error.str()) from None
            raise
        return True

    async def publish(
        self, topic: str, value: bytes, done: Done, key: bytes | None = None, partition: int = -1
    ) -> None:
        """Queue one record, waiting while librdkafka's queue is full; `done(error or None,
        record)` runs on the loop once the broker answered."""
        # Polled, not awaited as an event: room appears inside librdkafka, which tells no one.
        while not self.offer(topic, value, done, key, partition):  # noqa: ASYNC110
            await asyncio.sleep(self._poll_interval_s)

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Until every queued record is acknowledged (its `done` has run) or `timeout_s`."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self._producer.poll(0) or len(self._producer):
            if asyncio.get_running_loop().time() > deadline:
                raise PublishTimeout(
                    f"{len(self._producer)} records not acknowledged after {timeout_s:g} s"
                )
            await asyncio.sleep(self._poll_interval_s)

    async def problem(self, timeout_s: float = CHECK_TIMEOUT_S * 0.75) -> str | None:
        """None when the broker answers a metadata request on the producer's own connections,
        within `timeout_s`: inside /readyz's own limit, so the answer names the broker."""
        try:
            await asyncio.to_thread(self._producer.list_topics, None, timeout_s)
        except KafkaException as exc:
            return f"{BROKER_SILENT}: {exc}"
        return None

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Flush (at most `timeout_s`), then close the connections: a broker waits for its
        clients to leave before it shuts down."""
        with contextlib.suppress(PublishTimeout):
            await self.flush(timeout_s)
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        self._producer.purge()  # what is still unacknowledged reports an error, not done
        self._producer.poll(0)
        await asyncio.to_thread(self._producer.close)

    async def _poll_forever(self) -> None:
        while True:
            self._producer.poll(0)
            # Idle (nothing awaits an answer): look less often; a new record's first answer
            # waits at most that long, which delays a commit, never a postback.
            await asyncio.sleep(self._poll_interval_s if len(self._producer) else 0.05)
