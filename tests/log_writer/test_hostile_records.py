"""Generated batches of valid and hostile attempt records: each record is accounted for once.

The fast property runs the check alone: nothing raises, and every record is a value to insert,
a repeat or a dead letter, never two of them. The slow one stores the batches in real chDB:
the valid records are in the table as they were written, every hostile one is dead-lettered
(by the check or, for what only ClickHouse refuses, by the store's isolation).

POSTBACKS_HYPOTHESIS_EXAMPLES sets the slow property's examples (10 unless set; each takes a
fraction of a second); the fast one runs 20 times as many.
"""

from __future__ import annotations

import asyncio
import base64
import os

import orjson
from hypothesis import HealthCheck, given, settings

from log_writer.storing import Backoff, BatchWriter
from log_writer.validation import check_batch
from postbacks.attempts import AttemptRecord
from postbacks.store.chdb_backend import EmbeddedStore
from tests.log_writer.hostile import Case, Fate, batches
from tests.log_writer.records import consumed

SLOW_EXAMPLES = int(os.environ.get("POSTBACKS_HYPOTHESIS_EXAMPLES", "10"))
FAST_EXAMPLES = 20 * SLOW_EXAMPLES
STUCK_AFTER_S = 10  # a healthy example stores its batch in well under a second
# Generating a text at its bound (150,000 characters for `source`) is slow for Hypothesis'
# taste, and is the point.
SLOW_TO_GENERATE = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
]


def letter_offsets(letters: list[bytes], cases: list[Case]) -> list[int]:
    """The offset each dead letter names, checked against the record it carries."""
    offsets = []
    for letter in map(orjson.loads, letters):
        value = cases[letter["offset"]].value
        kept = None if letter["value_base64"] is None else base64.b64decode(letter["value_base64"])
        assert kept == (None if value is None else value[: len(kept or b"")])
        assert letter["reason"], "a dead letter says why"
        offsets.append(letter["offset"])
    return offsets


@settings(max_examples=FAST_EXAMPLES, deadline=None, suppress_health_check=SLOW_TO_GENERATE)
@given(cases=batches())
def test_the_check_accounts_for_every_record_once(cases: list[Case]) -> None:
    batch = check_batch(consumed([c.value for c in cases]))

    lettered = letter_offsets(batch.dead_letters, cases)
    passed = [record.offset for record in batch.sources]
    assert len(batch.values) + batch.repeated + len(lettered) == len(cases)
    assert sorted(lettered + passed) == sorted(set(lettered + passed)), "accounted for twice"
    for offset, case in enumerate(cases):
        if case.fate is Fate.STORED:
            assert offset in passed, (case.what, lettered)
            assert batch.values[passed.index(offset)] == case.value  # byte for byte
        elif case.fate is Fate.REFUSED_BY_CHECK:
            assert offset in lettered, case.what
        elif case.fate is Fate.REPEAT:
            assert offset not in lettered + passed
    assert batch.repeated == sum(c.fate is Fate.REPEAT for c in cases)
    made_from = [cases[offset].record for offset in passed]
    assert batch.attempt_ids == [str(r.attempt_id) for r in made_from if r is not None]


@settings(
    max_examples=SLOW_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, *SLOW_TO_GENERATE],
)
@given(cases=batches(max_size=8, every_fate=True))
async def test_valid_records_are_stored_and_hostile_ones_dead_lettered(
    embedded_store: EmbeddedStore, cases: list[Case]
) -> None:
    table = embedded_store.table("postback_attempts")
    await embedded_store.execute(f"TRUNCATE TABLE {table}")  # one store for every example
    batch = check_batch(consumed([c.value for c in cases]))
    writer = BatchWriter(embedded_store, Backoff(initial_s=0.001, max_s=0.002))
    # A record that makes the store retry forever would stop the loop for good: fail instead.
    outcome = await asyncio.wait_for(writer.store(batch), STUCK_AFTER_S)

    lettered = letter_offsets(batch.dead_letters + outcome.refused, cases)
    hostile = [o for o, c in enumerate(cases) if c.fate not in (Fate.STORED, Fate.REPEAT)]
    assert sorted(lettered) == hostile, [(c.what, c.fate) for c in cases]
    rows = await embedded_store.select(f"SELECT * FROM {table}")
    stored = {str(r["attempt_id"]): AttemptRecord.model_validate(r) for r in rows}
    expected = {
        str(c.record.attempt_id): milliseconds(c.record)
        for c in cases
        if c.fate is Fate.STORED and c.record
    }
    assert len(rows) == len(expected)
    assert stored == expected


def milliseconds(record: AttemptRecord) -> AttemptRecord:
    """The record as DateTime64(3) keeps it: its time cut to the millisecond."""
    at = record.attempted_at
    return record.model_copy(
        update={"attempted_at": at.replace(microsecond=at.microsecond // 1000 * 1000)}
    )
