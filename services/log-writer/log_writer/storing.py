"""Store one checked batch exactly once, retrying while ClickHouse is down.

Exactly once on top of at-least-once delivery: a batch read again after a crash (inserted, but
its offsets not yet committed) holds attempts that are already stored. Before inserting, the
batch's attempt_ids are looked up in the table, restricted to the batch's attempted_at range
(the primary key prunes by time, the bloom filter on attempt_id prunes granules), and only the
ones not found are inserted. One writer owns a partition at a time (the consumer group), so
nobody inserts the same attempt between the lookup and the insert. A retry after a failed or
half-done INSERT runs the lookup again, so it inserts exactly what is missing.

Failures: every StoreError is retried with exponential backoff, forever, and nothing is
committed meanwhile. After a few failures in a row, if ClickHouse still answers `SELECT 1` but
refuses the INSERT, the batch is split in halves until the refused records are found alone;
those are dead-lettered with ClickHouse's reason, so one bad record cannot block a partition.
Any other exception (a bug, a value a backend cannot handle) is treated alike, and a record
that raises it alone is dead-lettered as a contained error (postbacks.containment).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from log_writer.attempt_store import AttemptStore
from log_writer.metrics import INSERT_FAILURES, INSERT_SECONDS, REPLAYS_SKIPPED, ROWS_WRITTEN
from log_writer.rollup_repair import repair_rollup
from log_writer.validation import SERVICE, CheckedBatch
from postbacks.containment import contained, record_name
from postbacks.dead_letters import dead_letter
from postbacks.store import StoreError, StoreQueryError

log = logging.getLogger(__name__)

TABLE = "postback_attempts"
# Failures in a row before a batch is split to find a record ClickHouse refuses.
ISOLATE_AFTER = 3
# attempt_ids per lookup query: keeps the query text and the IN set moderate.
LOOKUP_CHUNK = 20_000


@dataclass(frozen=True)
class Backoff:
    initial_s: float = 0.5
    max_s: float = 30.0


@dataclass
class StoredBatch:
    inserted: int = 0
    already_stored: int = 0
    # Records ClickHouse refused although it answers queries: dead letters, with its reason.
    refused: list[bytes] = field(default_factory=list)


async def stored_ids(store: AttemptStore, ids: Sequence[str], lo_ms: int, hi_ms: int) -> set[str]:
    """Which of `ids` (attempted between lo_ms and hi_ms) the table already holds."""
    found: set[str] = set()
    table = store.table(TABLE)
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        # An array parameter, not literals: the query text stays small (max_query_size), and
        # the ids are canonical UUID text from msgspec (validation.py), so the value needs no
        # escaping beyond the quotes.
        rows = await store.select(
            f"SELECT toString(attempt_id) AS id FROM {table} "
            "WHERE attempted_at BETWEEN fromUnixTimestamp64Milli({lo:Int64}, 'UTC') "
            "AND fromUnixTimestamp64Milli({hi:Int64}, 'UTC') "
            "AND attempt_id IN {ids:Array(UUID)}",
            {"lo": lo_ms, "hi": hi_ms, "ids": "[" + ",".join(f"'{i}'" for i in chunk) + "]"},
        )
        found.update(str(r["id"]) for r in rows)
    return found


class BatchWriter:
    def __init__(self, store: AttemptStore, backoff: Backoff) -> None:
        self._store = store
        self._backoff = backoff

    async def store(self, batch: CheckedBatch) -> StoredBatch:
        """Return once every row of `batch` is stored or refused; retry while the store fails."""
        everything = list(range(len(batch)))
        delay = self._backoff.initial_s
        failures = 0
        while True:
            started = time.perf_counter()
            try:
                if failures >= ISOLATE_AFTER and await self._answers():
                    outcome = await self._isolate(batch, everything)
                else:
                    outcome = await self._store_once(batch, everything)
            except Exception as exc:
                # StoreError: ClickHouse is down or refuses. Anything else is unexpected; both
                # are retried, then isolated, so neither stops the loop for good.
                failures += 1
                INSERT_FAILURES.inc()
                log.warning(
                    "storing %d attempt rows failed (%d in a row), retrying in %.1fs: %s",
                    len(batch), failures, delay, exc,
                    exc_info=not isinstance(exc, StoreError),
                )  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff.max_s)
                continue
            INSERT_SECONDS.observe(time.perf_counter() - started)
            ROWS_WRITTEN.inc(outcome.inserted)
            REPLAYS_SKIPPED.inc(outcome.already_stored + batch.repeated)
            return outcome

    async def _store_once(self, batch: CheckedBatch, rows: list[int]) -> StoredBatch:
        if not rows:
            return StoredBatch()
        times = [batch.attempted_ms[i] for i in rows]
        ids = [batch.attempt_ids[i] for i in rows]
        # One millisecond wider on each side: msgspec rounds a time given to more than six
        # decimals (and int() truncates one before 1970) where ClickHouse truncates down, so
        # a row's stored millisecond may be one below what the batch computed.
        stored = await stored_ids(self._store, ids, min(times) - 1, max(times) + 1)
        fresh = [i for i in rows if batch.attempt_ids[i] not in stored]
        if fresh:
            # One item holding every row, newline-separated: JSONEachRow is that already, and
            # joining bytes once is far cheaper than handing the store 50,000 items to join.
            body = b"\n".join(batch.values[i] for i in fresh)
            await self._store.insert_json(TABLE, [body])
        if stored:
            # A replay: the crash before it may have come between the log's part and the
            # rollup's (rollup_repair.py).
            replayed = [batch.attempted_ms[i] for i in rows if batch.attempt_ids[i] in stored]
            added = await repair_rollup(self._store, min(replayed), max(replayed))
            if added:
                log.warning("rollup repaired: %d replayed attempts were missing from it", added)
        return StoredBatch(inserted=len(fresh), already_stored=len(rows) - len(fresh))

    async def _answers(self) -> bool:
        try:
            await self._store.ping()
        except StoreError:
            return False
        return True

    async def _isolate(self, batch: CheckedBatch, rows: list[int]) -> StoredBatch:
        """Store `rows` in ever smaller parts; a record refused alone is refused for itself."""
        failure: Exception
        try:
            return await self._store_once(batch, rows)
        except StoreQueryError as exc:
            failure = exc
        except StoreError:
            raise  # the store went away: the whole batch is retried
        except Exception as exc:
            failure = exc
        if len(rows) > 1:
            half = len(rows) // 2
            first = await self._isolate(batch, rows[:half])
            second = await self._isolate(batch, rows[half:])
            return StoredBatch(
                inserted=first.inserted + second.inserted,
                already_stored=first.already_stored + second.already_stored,
                refused=first.refused + second.refused,
            )
        if not await self._answers():
            raise failure  # the store went away meanwhile: not this record's fault
        record = batch.sources[rows[0]]
        where = record_name(record.topic, record.partition, record.offset)
        if isinstance(failure, StoreQueryError):
            reason = f"ClickHouse refused the attempt record: {failure}"
            log.warning("dead-lettering %s: %s", where, reason)
        else:
            reason = contained(SERVICE, "store", where, failure)
        return StoredBatch(refused=[dead_letter(record, reason=reason, service=SERVICE)])
