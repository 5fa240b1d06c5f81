"""The cheap check: what it passes ClickHouse stores as the contract says; the rest is refused."""

from __future__ import annotations

import json
import uuid

import orjson
import pytest

from log_writer.storing import Backoff, BatchWriter
from log_writer.validation import check_batch
from postbacks.attempts import AttemptRecord
from postbacks.store.chdb_backend import EmbeddedStore
from tests.log_writer.records import attempt, consumed, encoded


def with_fields(record: AttemptRecord, **changes: object) -> bytes:
    data = orjson.loads(encoded(record))
    for name, value in changes.items():
        if value is ...:
            del data[name]
        else:
            data[name] = value
    return json.dumps(data).encode()  # the stdlib writes integers past 64 bits; orjson does not


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "tombstone"),
        (b"not json", "invalid attempt record"),
        (b"\xff\xfe", "invalid attempt record"),
        (with_fields(attempt(1), attempt_id="not a uuid"), "$.attempt_id"),
        (with_fields(attempt(1), attempted_at="yesterday"), "$.attempted_at"),
        (with_fields(attempt(1), attempted_at="2500-01-01T00:00:00Z"), "1900-2299"),
        (with_fields(attempt(1), status="Maybe"), "$.status"),
        (with_fields(attempt(1), offer_id=-1), "$.offer_id"),
        (with_fields(attempt(1), publisher_id=2**64), "$.publisher_id"),
        (with_fields(attempt(1), response_code=70000), "$.response_code"),
        (with_fields(attempt(1), latency_ms=2**32), "$.latency_ms"),
        (with_fields(attempt(1), url=None), "$.url"),
        (with_fields(attempt(1), transaction_id=...), "transaction_id"),
        # json.dumps writes the lone surrogate as the escape \ud800, as a broken producer would.
        (with_fields(attempt(1), transaction_id="tx-\ud800"), "transaction_id: lone surrogate"),
    ],
)
def test_a_record_that_does_not_fit_is_dead_lettered_with_its_reason(
    value: bytes | None, reason: str
) -> None:
    batch = check_batch(consumed([encoded(attempt(0)), value]))
    assert len(batch) == 1
    [letter] = [orjson.loads(d) for d in batch.dead_letters]
    assert reason in letter["reason"]
    assert letter["offset"] == 1
    assert letter["topic"] == "postbacks.attempts"


def test_valid_records_pass_byte_for_byte_and_a_repeat_in_the_batch_is_kept_once() -> None:
    records = [encoded(attempt(n)) for n in range(3)]
    batch = check_batch(consumed([*records, records[1]]))
    assert batch.values == records
    assert batch.repeated == 1
    assert batch.dead_letters == []


async def test_what_the_check_passes_is_stored_as_the_contract_says(
    embedded_store: EmbeddedStore,
) -> None:
    """Producers' variations the check lets through: ClickHouse must store the §6 meaning."""
    base = attempt(5, method="POST", trigger="refire", refire_of=uuid.uuid4(), event_id="9")
    variants = {
        "offset time": with_fields(
            attempt(1), attempted_at=attempt(1).attempted_at.isoformat().replace("+00:00", "+02:00")
        ),
        "extra field": with_fields(attempt(2), dispatcher_version="9.9", nested={"a": [1]}),
        "defaults left out": with_fields(
            attempt(3), method=..., trigger=..., error=..., server_response=..., event_id=...
        ),
        "every field": encoded(base),
        "hostile text": with_fields(attempt(4), error='it\'s "quoted"\ttab\nnew\\line\u2028 🙂'),
    }
    batch = check_batch(consumed(list(variants.values())))
    assert len(batch) == len(variants), [orjson.loads(d)["reason"] for d in batch.dead_letters]
    await BatchWriter(embedded_store, Backoff()).store(batch)

    rows = await embedded_store.select(
        f"SELECT * FROM {embedded_store.table('postback_attempts')} ORDER BY attempted_at"
    )
    stored = {str(r["attempt_id"]): AttemptRecord.model_validate(r) for r in rows}
    for name, value in variants.items():
        expected = AttemptRecord.model_validate_json(value)
        if name == "offset time":  # the same instant, stored in UTC
            assert stored[str(expected.attempt_id)].attempted_at == expected.attempted_at
            continue
        assert stored[str(expected.attempt_id)] == expected, name
