"""A replayed attempt is stored once, for plain SELECTs and for the rollup (real chDB).

A replay is what a crash between INSERT and offset commit produces: the same records read
again, in batches that need not match the first ones.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import timedelta

import orjson

from log_writer.service import LogWriter
from log_writer.settings import LogWriterSettings
from log_writer.storing import Backoff, BatchWriter
from log_writer.validation import check_batch
from postbacks.containment import CONTAINED
from postbacks.embedded_broker import EmbeddedBroker
from postbacks.kafka_admin import ensure_topics
from postbacks.store import StoreQueryError
from postbacks.store.chdb_backend import EmbeddedStore
from tests.attempts import T0, attempt_record, encoded
from tests.log_writer.kafka_state import committed_total, produce
from tests.log_writer.records import consumed, with_raw
from tests.waiting import until


async def counts(store: EmbeddedStore) -> tuple[int, int, int]:
    """Rows, distinct attempt_ids (plain SELECT, no FINAL), and the rollup's attempts."""
    [log] = await store.select(
        f"SELECT count() AS n, uniqExact(attempt_id) AS ids FROM {store.table('postback_attempts')}"
    )
    [rollup] = await store.select(
        f"SELECT sum(attempts) AS n FROM {store.table('postback_attempts_by_minute')}"
    )
    return int(log["n"]), int(log["ids"]), int(rollup["n"])


async def test_a_replayed_batch_is_stored_once(embedded_store: EmbeddedStore) -> None:
    # Three days apart: the replay check's time range spans daily partitions.
    values = [
        encoded(attempt_record(n, attempted_at=T0 - timedelta(days=n % 3, milliseconds=n)))
        for n in range(300)
    ]
    writer = BatchWriter(embedded_store, Backoff())
    first = await writer.store(check_batch(consumed(values[:120])))
    # The replay starts at the last commit and is cut into batches of another size.
    replay = [
        await writer.store(check_batch(consumed(values[i : i + 70]))) for i in range(0, 300, 70)
    ]

    assert first.inserted == 120
    assert sum(r.already_stored for r in replay) == 120
    assert sum(r.inserted for r in replay) == 180
    assert await counts(embedded_store) == (300, 300, 300)


async def test_a_half_done_insert_is_completed_not_doubled(embedded_store: EmbeddedStore) -> None:
    """An INSERT that stored part of a batch before failing (a server splitting a big insert
    into blocks): the retry inserts exactly the missing rows."""
    values = [encoded(attempt_record(n)) for n in range(100)]
    await embedded_store.insert_json("postback_attempts", values[::3])  # what got through
    outcome = await BatchWriter(embedded_store, Backoff()).store(check_batch(consumed(values)))
    assert (outcome.inserted, outcome.already_stored) == (66, 34)
    assert await counts(embedded_store) == (100, 100, 100)


async def test_a_replay_restores_rollup_rows_a_crash_kept_from_landing(
    embedded_store: EmbeddedStore,
) -> None:
    """A kill -9 between the log's part and the rollup's: the log has the attempts, the rollup
    lacks them, nothing is committed. The replay inserts nothing into the log and completes
    the rollup (the process-kill test saw 939 of 20,000 attempts missing before this repair)."""
    values = [
        encoded(attempt_record(n, attempted_at=T0 - timedelta(seconds=n * 7), latency_ms=n))
        for n in range(200)
    ]
    writer = BatchWriter(embedded_store, Backoff())
    await writer.store(check_batch(consumed(values[80:])))
    # The crash's state for the first 80: in the log, not in the rollup (its view detached).
    view = embedded_store.table("postback_attempts_by_minute_mv")
    await embedded_store.execute(f"DETACH TABLE {view}")
    await embedded_store.insert_json("postback_attempts", values[:80])
    await embedded_store.execute(f"ATTACH TABLE {view}")
    assert await counts(embedded_store) == (200, 200, 120)

    outcome = await writer.store(check_batch(consumed(values[:80])))  # the replay
    assert (outcome.inserted, outcome.already_stored) == (0, 80)
    assert await counts(embedded_store) == (200, 200, 200)
    # Minutes shared by the replayed and the landed attempts are completed, not doubled.
    by_minute = f"""
        SELECT toString(minute) AS m, toUInt64(sum(attempts)) AS n, toUInt64(sum(failures)) AS f,
               toUInt64(sum(latency_ms_sum)) AS l, toUInt64(max(latency_ms_max)) AS x
        FROM {embedded_store.table("postback_attempts_by_minute")} GROUP BY m ORDER BY m"""
    from_log = f"""
        SELECT toString(toStartOfMinute(attempted_at)) AS m, count() AS n,
               countIf(status = 'Failed') AS f, toUInt64(sum(latency_ms)) AS l,
               toUInt64(max(latency_ms)) AS x
        FROM {embedded_store.table("postback_attempts")} GROUP BY m ORDER BY m"""
    assert await embedded_store.select(by_minute) == await embedded_store.select(from_log)
    # A second replay finds nothing missing.
    await writer.store(check_batch(consumed(values[:80])))
    assert await counts(embedded_store) == (200, 200, 200)


class RefusesMarkedRows(EmbeddedStore):
    """The real store, except that an INSERT containing MARK is refused, as ClickHouse refuses
    a value it cannot parse (while it still answers every other query)."""

    MARK = b"refuse-me"

    def __init__(self, inner: EmbeddedStore) -> None:
        self.__dict__.update(inner.__dict__)

    async def insert_json(self, table: str, rows: Sequence[bytes]) -> None:
        if any(self.MARK in row for row in rows):
            raise StoreQueryError("Code: 27. Cannot parse input (injected)")
        await super().insert_json(table, rows)


async def test_a_record_clickhouse_refuses_is_dead_lettered_and_the_rest_stored(
    embedded_store: EmbeddedStore,
) -> None:
    store = RefusesMarkedRows(embedded_store)
    values = [encoded(attempt_record(n)) for n in range(40)]
    values[17] = encoded(attempt_record(17, url="http://127.0.0.1/refuse-me"))
    outcome = await BatchWriter(store, Backoff(initial_s=0.01, max_s=0.02)).store(
        check_batch(consumed(values))
    )
    assert outcome.inserted == 39
    [letter] = [orjson.loads(d) for d in outcome.refused]
    assert letter["offset"] == 17
    assert "ClickHouse refused the attempt record" in letter["reason"]
    assert "Cannot parse input" in letter["reason"]
    assert await counts(embedded_store) == (39, 39, 39)


class RaisesOnMarkedRows(EmbeddedStore):
    """The real store, except that an INSERT containing MARK raises what no rule foresaw (not a
    StoreError): a backend bug, or a value one backend cannot handle."""

    MARK = b"raise-on-me"

    def __init__(self, inner: EmbeddedStore) -> None:
        self.__dict__.update(inner.__dict__)

    async def insert_json(self, table: str, rows: Sequence[bytes]) -> None:
        if any(self.MARK in row for row in rows):
            raise RuntimeError("cannot handle this row (injected)")
        await super().insert_json(table, rows)


async def test_a_record_the_store_raises_on_unexpectedly_is_contained(
    embedded_store: EmbeddedStore,
) -> None:
    """Before containment the exception left `store()` and stopped the loop; after a restart
    the same batch stopped it again, for good."""
    store = RaisesOnMarkedRows(embedded_store)
    values = [encoded(attempt_record(n)) for n in range(20)]
    values[5] = encoded(attempt_record(5, error="raise-on-me"))
    contained_before = CONTAINED.labels("log-writer", "store")._value.get()
    outcome = await BatchWriter(store, Backoff(initial_s=0.01, max_s=0.02)).store(
        check_batch(consumed(values))
    )
    assert outcome.inserted == 19
    [letter] = [orjson.loads(d) for d in outcome.refused]
    assert letter["offset"] == 5
    assert letter["reason"] == "store: unexpected RuntimeError: cannot handle this row (injected)"
    assert CONTAINED.labels("log-writer", "store")._value.get() == contained_before + 1
    assert await counts(embedded_store) == (19, 19, 19)


async def test_a_time_msgspec_rounds_up_is_still_found_on_replay(
    embedded_store: EmbeddedStore,
) -> None:
    """Seven decimals: msgspec rounds this up to .001 s, ClickHouse truncates it to .000 s. The
    replay check's range must still reach the stored row, or a replay stores it twice."""
    value = with_raw(attempt_record(1), "attempted_at", b'"2026-01-02T03:04:05.0009999Z"')
    writer = BatchWriter(embedded_store, Backoff())
    assert (await writer.store(check_batch(consumed([value])))).inserted == 1
    replay = await writer.store(check_batch(consumed([value])))
    assert (replay.inserted, replay.already_stored) == (0, 1)
    assert await counts(embedded_store) == (1, 1, 1)


class DiesAfterInsert(EmbeddedStore):
    """The real store; the first INSERT succeeds and then the log-writer dies on the spot, as a
    kill -9 between the INSERT and the offset commit would leave it: rows stored, nothing
    committed. (A process kill lands in that window only by luck; this lands there always.)"""

    def __init__(self, inner: EmbeddedStore) -> None:
        self.__dict__.update(inner.__dict__)
        self.died = False

    async def insert_json(self, table: str, rows: Sequence[bytes]) -> None:
        await super().insert_json(table, rows)
        if not self.died:
            self.died = True
            raise asyncio.CancelledError("killed between INSERT and commit (injected)")


async def test_a_crash_between_insert_and_commit_replays_without_doubles(
    embedded_store: EmbeddedStore,
) -> None:
    values = [encoded(attempt_record(n)) for n in range(500)]
    with EmbeddedBroker() as broker:
        await ensure_topics(broker.kafka)
        await produce(broker.bootstrap, values)
        settings = LogWriterSettings(
            kafka_bootstrap=broker.bootstrap,
            log_writer_group_id="crash-window",
            log_writer_batch_timeout_ms=300,
        )
        dying = DiesAfterInsert(embedded_store)
        first = LogWriter(settings, dying)
        await first.start()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(first.wait(), 30)
        await first.stop()
        stored_before_replay = (await counts(embedded_store))[0]
        assert dying.died
        assert await committed_total(broker.bootstrap, "crash-window") == 0

        # Nothing was committed, so a member of a fresh group reads exactly what a restarted
        # member of the old one would (from the start), without waiting for the dead member
        # to time out of the group.
        replay = settings.model_copy(update={"log_writer_group_id": "crash-window-replay"})
        second = LogWriter(replay, embedded_store)
        await second.start()
        try:

            async def replayed() -> bool:
                return await committed_total(broker.bootstrap, "crash-window-replay") >= len(values)

            await until(replayed, "the replay committed", every_s=0.2)
        finally:
            await second.stop()
    assert stored_before_replay > 0, "the first writer stored nothing before it died"
    assert await counts(embedded_store) == (500, 500, 500)


async def test_a_record_naming_a_field_twice_is_dead_lettered_not_stored_as_another(
    embedded_store: EmbeddedStore,
) -> None:
    # Both values fit; the check keeps the last, ClickHouse would store the first.
    values = [encoded(attempt_record(n)) for n in range(10)]
    values[3] = values[3].replace(b'"response_code":', b'"response_code":404,"response_code":', 1)
    checked = check_batch(consumed(values))
    assert len(checked) == 10  # the cheap check cannot see it
    outcome = await BatchWriter(embedded_store, Backoff(initial_s=0.01, max_s=0.02)).store(checked)
    assert outcome.inserted == 9, outcome
    [letter] = [orjson.loads(d) for d in outcome.refused]
    assert letter["offset"] == 3
    assert "Duplicate field found" in letter["reason"], letter["reason"]
