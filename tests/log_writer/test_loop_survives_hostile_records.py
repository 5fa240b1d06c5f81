"""The running log-writer meets hostile attempt records between valid ones: every hostile one
is dead-lettered once, every valid one stored, every offset committed, and the loop still runs
(real broker, real chDB)."""

from __future__ import annotations

import orjson
from aiokafka import AIOKafkaProducer

from log_writer.service import LogWriter
from log_writer.settings import LogWriterSettings
from postbacks import topics
from postbacks.embedded_broker import EmbeddedBroker
from postbacks.kafka_admin import ensure_topics
from postbacks.store.chdb_backend import EmbeddedStore
from tests.attempts import attempt_record, encoded
from tests.kafka_topics import read_topic
from tests.log_writer.kafka_state import committed_total
from tests.log_writer.records import with_member, with_raw
from tests.waiting import until

GROUP = "log-writer-hostile"
DEEP = 100_000

HOSTILE: dict[str, bytes | None] = {
    # Each of these stopped the loop before containment, for good (read again after a restart).
    "invalid UTF-8 in a column": with_raw(attempt_record(1), "error", b'"\xc0\xaf"'),
    "invalid UTF-8 in an unknown field": with_member(attempt_record(2), b'"note": "\xff"'),
    "nested too deeply": with_member(attempt_record(3), b'"x": ' + b"[" * DEEP + b"]" * DEEP),
    # Past its bound, and its dead letter far past the 1 MB a message may have, had it kept the
    # whole record (twice: base64 and text).
    "a 900 KB source": encoded(attempt_record(4)).replace(
        b'"source":"', b'"source":"' + b"s" * 900_000
    ),
    # Passes the check; ClickHouse refuses it (an unsigned number written "-0").
    "refused by ClickHouse": with_raw(attempt_record(5), "offer_id", b"-0"),
    "tombstone": None,
    "empty": b"",
    "random bytes": b"\x00\x9f\xee{[",
}


async def produce(bootstrap: str, values: list[bytes | None]) -> list[tuple[int, int]]:
    """Publish `values` in order; the (partition, offset) of each."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        sends = [
            # A tombstone needs a key; the others go to whichever partition.
            await producer.send(topics.ATTEMPTS, value, key=b"gone" if value is None else None)
            for value in values
        ]
        return [((m := await s).partition, m.offset) for s in sends]
    finally:
        await producer.stop()


async def test_hostile_records_are_dead_lettered_and_the_loop_goes_on(
    embedded_store: EmbeddedStore,
) -> None:
    valid = [attempt_record(n) for n in range(10, 40)]
    values: list[bytes | None] = [encoded(r) for r in valid[:15]]
    values += HOSTILE.values()
    values += [encoded(r) for r in valid[15:]]
    with EmbeddedBroker() as broker:
        await ensure_topics(broker.kafka)
        places = await produce(broker.bootstrap, values)
        hostile_places = {places[values.index(v)]: name for name, v in HOSTILE.items()}
        settings = LogWriterSettings(
            kafka_bootstrap=broker.bootstrap,
            log_writer_group_id=GROUP,
            log_writer_batch_timeout_ms=200,
            log_writer_retry_initial_s=0.05,
            log_writer_retry_max_s=0.1,
        )
        writer = LogWriter(settings, embedded_store)
        await writer.start()
        try:

            async def all_committed() -> bool:
                assert await writer.ready() is None, "the log-writer stopped consuming"
                return await committed_total(broker.bootstrap, GROUP) >= len(values)

            await until(all_committed, "everything committed", every_s=0.2)
            assert await writer.ready() is None
        finally:
            await writer.stop()
        letters = [orjson.loads(r.value) for r in await read_topic(broker.bootstrap, topics.DLQ)]

    rows = await embedded_store.select(
        f"SELECT toString(attempt_id) AS id FROM {embedded_store.table('postback_attempts')}"
    )
    assert sorted(r["id"] for r in rows) == sorted(str(r.attempt_id) for r in valid)
    lettered = [(d["partition"], d["offset"]) for d in letters]
    assert sorted(lettered) == sorted(hostile_places), [d["reason"] for d in letters]
    reasons = {hostile_places[(d["partition"], d["offset"])]: d["reason"] for d in letters}
    assert "not UTF-8" in reasons["invalid UTF-8 in a column"]
    assert "not UTF-8" in reasons["invalid UTF-8 in an unknown field"]
    assert "nested too deeply" in reasons["nested too deeply"]
    assert "length <= 150000 - at `$.source`" in reasons["a 900 KB source"]
    assert "ClickHouse refused" in reasons["refused by ClickHouse"]
    assert "tombstone" in reasons["tombstone"]
