"""The dispatcher's input consumer, on librdkafka (confluent-kafka).

The dispatcher's event loop is its bottleneck. With aiokafka, fetch requests, their answers
and the decoding of record batches ran on that loop; librdkafka fetches, decodes and
heartbeats in its own C threads, and the loop only takes what is already in its queue
(`consume(timeout=0)` never blocks).

What the engine needs from a consumer, and how it maps onto librdkafka:
- pause and resume every assigned partition (backpressure). A partition assigned while paused
  is paused at once, in the assignment callback, so a rebalance cannot start a flood;
- commits of exactly the offsets the engine names (no auto commit): asynchronous on the hot
  path, their failures reported by librdkafka's commit callback; synchronous when partitions
  are revoked, so the next owner starts after what is done;
- rebalance callbacks. librdkafka runs them inside `consume()`, on the loop's thread, so the
  engine's bookkeeping is never touched from another thread.

Tansu holds a JoinGroup until the group has been stable for half the member's session timeout
(docs/libraries.md): librdkafka's default 45 s session made a join take ~23 s, the 6 s used here
~3 s. Heartbeats run in librdkafka's thread, so a busy loop never misses one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from dispatcher.offsets import Partition
from postbacks.kafka_connection import KafkaConnection

log = logging.getLogger(__name__)
IDLE_POLL_S = 0.005  # nothing fetched yet: look again this much later
COMMIT_FAILED = "offset commit failed, inputs after it may be fired again: %s"


@dataclass(slots=True, eq=False)
class Record:
    """One consumed input (the `postbacks.dead_letters.KafkaRecord` shape)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


# Called with the partitions taken away, and whether they were lost (the session expired:
# another member may own them already, so their offsets must not be committed).
Revoked = Callable[[set[Partition], bool], None]


class KafkaInputs:
    def __init__(
        self, kafka: KafkaConnection, group_id: str, client_id: str = "dispatcher"
    ) -> None:
        self._consumer = Consumer(
            {
                **kafka.librdkafka(),
                "group.id": group_id,
                "client.id": client_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 2000,
                # Prefetch is bounded in bytes (default 64 MiB): inputs are a few hundred bytes,
                # so 8 MiB still holds far more than the engine admits at once.
                "queued.max.messages.kbytes": 8192,
                "on_commit": self._committed,
            },
            logger=log,  # librdkafka's own log lines, through logging instead of stderr
        )
        self._assigned: set[Partition] = set()
        self._paused = False
        self._on_revoked: Revoked = lambda _, __: None
        self._failed_commits: set[Partition] = set()
        self._revoked_meanwhile: set[Partition] = set()  # during the current consume()
        self._closed = False

    def subscribe(self, topics: list[str], on_revoked: Revoked) -> None:
        """`on_revoked(partitions, lost)` runs inside `fetch` before partitions are taken away,
        the moment to commit what is done (`commit_now`), or after they were lost. Paused or
        not, `fetch` must be called now and then: librdkafka runs these callbacks only there."""
        self._on_revoked = on_revoked
        self._consumer.subscribe(
            topics, on_assign=self._assign, on_revoke=self._revoke, on_lost=self._lose
        )

    @property
    def assigned(self) -> set[Partition]:
        return self._assigned

    async def fetch(self, max_records: int) -> list[Record]:
        """What librdkafka has fetched, at most `max_records`; waits a moment when nothing is
        there yet, so a caller looping on it does not spin."""
        self._revoked_meanwhile.clear()
        messages = self._consumer.consume(max(1, max_records), 0)
        if not messages:
            await asyncio.sleep(IDLE_POLL_S)
            return []
        records = []
        for message in messages:
            error = message.error()
            if error is not None:
                log.warning("input consumer: %s", error)
                continue
            records.append(_record(message))
        if self._revoked_meanwhile:
            # A rebalance ran inside this consume(): records it took before the revocation
            # are past the offsets just committed, so whoever owns the partition now (another
            # member, or this one again) reads them from there.
            gone = self._revoked_meanwhile
            records = [r for r in records if Partition(r.topic, r.partition) not in gone]
        return records

    def pause(self) -> None:
        self._paused = True
        if self._assigned:
            self._consumer.pause(_without_offsets(self._assigned))

    def resume(self) -> None:
        self._paused = False
        if self._assigned:
            self._consumer.resume(_without_offsets(self._assigned))

    def high_watermark(self, partition: Partition) -> int | None:
        """The partition's end offset as of the last fetch answer (no request is sent)."""
        found = self._consumer.get_watermark_offsets(TopicPartition(*partition), cached=True)
        return None if found is None or found[1] < 0 else found[1]

    def commit(self, offsets: dict[Partition, int]) -> None:
        """Asynchronous: librdkafka reports the result later, and `failed_commits` names the
        partitions whose commit failed, so the caller can commit them again."""
        self._consumer.commit(offsets=_with_offsets(offsets), asynchronous=True)

    def failed_commits(self) -> set[Partition]:
        """Partitions whose asynchronous commit failed since the last call."""
        failed, self._failed_commits = self._failed_commits, set()
        return failed

    def commit_now(self, offsets: dict[Partition, int]) -> bool:
        """Synchronous (it blocks the loop for one round trip): for revocations and shutdown."""
        if not offsets:
            return True
        try:
            self._consumer.commit(offsets=_with_offsets(offsets), asynchronous=False)
        except KafkaException as exc:
            log.warning(COMMIT_FAILED, exc)
            return False
        return True

    async def close(self) -> None:
        """Leave the group (in a thread: it waits for the broker), so the partitions move to
        another dispatcher at once instead of after the session timeout. The caller has
        committed what it will: the revocation that leaving runs (in that thread) does not
        call `on_revoked`."""
        if not self._closed:
            self._closed = True
            self._on_revoked = lambda _, __: None
            await asyncio.to_thread(self._consumer.close)

    def _assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.assign(partitions)
        if self._paused and partitions:
            consumer.pause(partitions)
        self._assigned |= _ours(partitions)
        log.info(
            "input partitions assigned%s: %s",
            " (paused)" if self._paused else "",
            _named(partitions),
        )

    def _revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._take_away(partitions, lost=False)

    def _lose(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._take_away(partitions, lost=True)

    def _take_away(self, partitions: list[TopicPartition], *, lost: bool) -> None:
        gone = _ours(partitions)
        log.log(
            logging.WARNING if lost else logging.INFO,
            "input partitions %s: %s",
            "lost" if lost else "revoked",
            _named(partitions),
        )
        self._on_revoked(gone, lost)
        self._assigned -= gone
        self._revoked_meanwhile |= gone
        self._failed_commits -= gone

    def _committed(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        failed = [p for p in partitions if p.error is not None or error is not None]
        self._failed_commits |= _ours(failed)
        if failed:
            log.warning(
                COMMIT_FAILED,
                error or ", ".join(f"{p.topic}/{p.partition}: {p.error}" for p in failed),
            )


def _record(message: Message) -> Record:
    return Record(
        message.topic() or "",
        message.partition() or 0,
        message.offset() or 0,
        message.key(),
        message.value(),
    )


def _ours(partitions: list[TopicPartition]) -> set[Partition]:
    return {Partition(p.topic, p.partition) for p in partitions}


def _named(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}/{p.partition}" for p in partitions) or "none"


def _without_offsets(partitions: set[Partition]) -> list[TopicPartition]:
    return [TopicPartition(topic, partition) for topic, partition in partitions]


def _with_offsets(offsets: dict[Partition, int]) -> list[TopicPartition]:
    return [
        TopicPartition(topic, partition, offset) for (topic, partition), offset in offsets.items()
    ]
