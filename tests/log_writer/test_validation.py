"""The cheap check: what it passes ClickHouse stores as the contract says; the rest is refused."""

from __future__ import annotations

import uuid

import orjson
import pytest

import log_writer.validation
from log_writer.storing import Backoff, BatchWriter
from log_writer.validation import check_batch
from postbacks.attempts import TEXT_LIMITS, UINT64_MAX, AttemptRecord
from postbacks.containment import CONTAINED
from postbacks.store.chdb_backend import EmbeddedStore
from tests.attempts import attempt_record, encoded
from tests.log_writer.records import consumed, with_fields, with_member, with_raw

DEEP = 100_000  # levels of nesting: far past any stack a recursive parser could spare


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "tombstone"),
        (b"not json", "invalid attempt record"),
        (b"\xff\xfe", "invalid attempt record"),
        (with_fields(attempt_record(1), attempt_id="not a uuid"), "$.attempt_id"),
        (with_fields(attempt_record(1), attempted_at="yesterday"), "$.attempted_at"),
        (with_fields(attempt_record(1), attempted_at="2500-01-01T00:00:00Z"), "1900-2299"),
        (with_fields(attempt_record(1), status="Maybe"), "$.status"),
        (with_fields(attempt_record(1), offer_id=-1), "$.offer_id"),
        (with_fields(attempt_record(1), publisher_id=2**64), "$.publisher_id"),
        (with_fields(attempt_record(1), response_code=70000), "$.response_code"),
        (with_fields(attempt_record(1), latency_ms=2**32), "$.latency_ms"),
        (with_fields(attempt_record(1), url=None), "$.url"),
        (with_fields(attempt_record(1), transaction_id=...), "transaction_id"),
        # json.dumps writes the lone surrogate as the escape \ud800, as a broken producer would.
        (
            with_fields(attempt_record(1), transaction_id="tx-\ud800"),
            "transaction_id: lone surrogate",
        ),
        # Bytes that are not UTF-8 inside a string: msgspec raised UnicodeDecodeError for them,
        # which was no DecodeError and stopped the loop.
        (with_raw(attempt_record(1), "error", b'"bad \xff byte"'), "not UTF-8 (invalid start byte"),
        (with_raw(attempt_record(1), "error", b'"overlong \xc0\xaf"'), "not UTF-8"),
        (with_raw(attempt_record(1), "error", b'"surrogate \xed\xa0\x80"'), "not UTF-8"),
        (with_raw(attempt_record(1), "error", b'"cut \xe2\x82"'), "not UTF-8"),
        # ...and in a field the table does not know, which msgspec skips unread: the bytes
        # reached the store, whose embedded backend raised UnicodeDecodeError (no StoreError).
        (with_member(attempt_record(1), b'"note": "\xff"'), "not UTF-8"),
        (with_member(attempt_record(1), b'"\xff": 1'), "not UTF-8"),
        (with_raw(attempt_record(1), "error", b'"raw \x01 control"'), "JSON is malformed"),
        (with_raw(attempt_record(1), "error", b'"raw \x00 NUL"'), "JSON is malformed"),
        (
            with_raw(attempt_record(1), "offer_id", b"1" + b"0" * 400),
            "offer_id is more than UInt64",
        ),
        (with_raw(attempt_record(1), "latency_ms", b"9223372036854775808"), "$.latency_ms"),
        (
            with_raw(attempt_record(1), "latency_ms", b"1e999999"),
            "Number out of range - at `$.latency_ms`",
        ),
        (with_raw(attempt_record(1), "response_code", b"200.0"), "$.response_code"),
        (with_raw(attempt_record(1), "source", b"[" * DEEP), "got `array` - at `$.source`"),
        (with_member(attempt_record(1), b'"x": ' + b"[" * DEEP + b"]" * DEEP), "nested too deeply"),
        (b'{"a": ' * DEEP, "nested too deeply"),
        (b"[" * DEEP, "Expected `object`, got `array`"),
        (b"[1, 2]", "Expected `object`, got `array`"),
        (b'"text"', "Expected `object`, got `str`"),
        (b"42", "Expected `object`, got `int`"),
        (b"null", "Expected `object`, got `null`"),
        (b"", "the message value is empty"),
        (b" \n", "the message value is empty"),
        (encoded(attempt_record(1)) + b" {}", "trailing characters"),
    ],
)
def test_a_record_that_does_not_fit_is_dead_lettered_with_its_reason(
    value: bytes | None, reason: str
) -> None:
    batch = check_batch(consumed([encoded(attempt_record(0)), value]))
    assert len(batch) == 1
    [letter] = [orjson.loads(d) for d in batch.dead_letters]
    assert reason in letter["reason"]
    assert letter["offset"] == 1
    assert letter["topic"] == "postbacks.attempts"


@pytest.mark.parametrize("name", sorted(TEXT_LIMITS))
def test_a_text_past_its_bound_is_dead_lettered_naming_the_field(name: str) -> None:
    """Bounds count characters (as the dispatcher's clip does), not bytes: four-byte ones here."""
    limit = TEXT_LIMITS[name]
    at_bound = with_fields(attempt_record(1), **{name: "🙂" * limit})
    past_bound = with_fields(attempt_record(2), **{name: "🙂" * (limit + 1)})
    batch = check_batch(consumed([at_bound, past_bound]))
    assert batch.values == [at_bound]
    [letter] = [orjson.loads(d) for d in batch.dead_letters]
    assert f"length <= {limit} - at `$.{name}`" in letter["reason"]


def test_an_unexpected_error_on_one_record_dead_letters_it_and_spares_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Containment: a bug that raises for one record costs that record, not the batch."""
    poison = encoded(attempt_record(1))
    real = log_writer.validation.problem_with

    def problem_with(value: bytes | None) -> tuple[object, str | None]:
        if value == poison:
            raise KeyError("no rule foresaw this")
        return real(value)

    monkeypatch.setattr(log_writer.validation, "problem_with", problem_with)
    contained_before = CONTAINED.labels("log-writer", "check")._value.get()
    good = [encoded(attempt_record(0)), encoded(attempt_record(2))]
    batch = check_batch(consumed([good[0], poison, good[1]]))
    assert batch.values == good
    [letter] = [orjson.loads(d) for d in batch.dead_letters]
    assert letter["offset"] == 1
    assert letter["reason"].startswith("check: unexpected KeyError: 'no rule foresaw this'")
    assert CONTAINED.labels("log-writer", "check")._value.get() == contained_before + 1


def test_valid_records_pass_byte_for_byte_and_a_repeat_in_the_batch_is_kept_once() -> None:
    records = [encoded(attempt_record(n)) for n in range(3)]
    batch = check_batch(consumed([*records, records[1]]))
    assert batch.values == records
    assert batch.repeated == 1
    assert batch.dead_letters == []


async def test_what_the_check_passes_is_stored_as_the_contract_says(
    embedded_store: EmbeddedStore,
) -> None:
    """Producers' variations the check lets through: ClickHouse must store the §6 meaning."""
    base = attempt_record(5, method="POST", trigger="refire", refire_of=uuid.uuid4(), event_id="9")
    variants = {
        "offset time": with_fields(
            attempt_record(1),
            attempted_at=attempt_record(1).attempted_at.isoformat().replace("+00:00", "+02:00"),
        ),
        "extra field": with_fields(attempt_record(2), dispatcher_version="9.9", nested={"a": [1]}),
        "defaults left out": with_fields(
            attempt_record(3), method=..., trigger=..., error=..., server_response=..., event_id=...
        ),
        "every field": encoded(base),
        "hostile text": with_fields(
            attempt_record(4), error='it\'s "quoted"\ttab\nnew\\line\u2028 🙂'
        ),
        # A binary answer body keeps its NUL bytes (the dispatcher decodes it with
        # errors="replace"): valid text, escaped as \u0000, stored as it is.
        "NUL and controls": with_fields(
            attempt_record(6), server_response="\x00\x01\x1f\x7f end\x00"
        ),
        "at every bound": with_fields(
            attempt_record(7, **{name: "é" * limit for name, limit in TEXT_LIMITS.items()}),
            attempted_at="2299-12-31T23:59:59.999Z",
            offer_id=UINT64_MAX,
            publisher_id=0,
            response_code=65535,
            latency_ms=2**32 - 1,
            attempt_number=255,
        ),
        "first millisecond": with_fields(attempt_record(8), attempted_at="1900-01-01T00:00:00Z"),
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
