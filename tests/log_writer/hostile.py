"""Generated batches of attempt records, valid and hostile, each labelled with its fate.

The labels follow the contract (postbacks.attempts.AttemptRecord, its TEXT_LIMITS and the
table's types), not the log-writer's code: a record is hostile because of what it is, whatever
the check does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from hypothesis import strategies as st

from postbacks.attempts import (
    TEXT_LIMITS,
    UINT64_MAX,
    AttemptRecord,
    AttemptStatus,
    HttpMethod,
    PostbackType,
    Trigger,
)
from tests.attempts import encoded
from tests.log_writer.records import with_fields, with_member, with_raw

DEEP = 100_000  # levels of nesting: far past any stack a recursive parser could spare


class Fate(StrEnum):
    STORED = "stored"
    REPEAT = "a repeat of an earlier record of the batch, kept once"
    REFUSED_BY_CHECK = "refused by the check"
    # Valid JSON of the right types that ClickHouse reads differently or not at all: the check
    # may pass it, the store must then refuse it.
    REFUSED_BY_CLICKHOUSE = "refused by the check or by ClickHouse"


@dataclass(frozen=True)
class Case:
    value: bytes | None
    fate: Fate
    what: str
    record: AttemptRecord | None = None  # the valid record it was made from, if any


# Lone surrogates cannot be written as UTF-8 by any encoder; every other character can.
CHARS = st.characters(exclude_categories=["Cs"])
TEXT = st.text(CHARS, max_size=30)
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
TIMES = st.sampled_from([EARLIEST, LATEST]) | st.datetimes(
    min_value=EARLIEST.replace(tzinfo=None),
    max_value=LATEST.replace(tzinfo=None),
    timezones=st.just(UTC),
)
TEXT_COLUMNS = sorted(TEXT_LIMITS)
REQUIRED = [
    "attempt_id", "attempted_at", "status", "postback_id", "postback_name", "postback_type",
    "offer_id", "publisher_id", "transaction_id", "response_code", "url", "latency_ms", "source",
]  # fmt: skip
UINT_MAX = {
    "offer_id": UINT64_MAX,
    "publisher_id": UINT64_MAX,
    "response_code": 2**16 - 1,
    "latency_ms": 2**32 - 1,
    "attempt_number": 2**8 - 1,
}
NOT_A_STRING: list[object] = [1, 1.5, True, None, [], {"a": "b"}]
WRONG_VALUES: dict[str, list[object]] = {
    "attempt_id": ["not a uuid", "", "{00000000-0000-0000-0000-000000000001}", 7, None, []],
    "postback_id": ["not a uuid", "", 7, None, {}],
    "refire_of": ["not a uuid", 7, [], True],
    "attempted_at": ["yesterday", "2024-01-01", 1_700_000_000, None, "2024-06-30T23:59:60Z"],
    "status": ["Maybe", "success", "", 1, None],
    "postback_type": ["Sale", "", 1, None],
    "method": ["PUT", "get", None, 1],
    "trigger": ["manual", "", None, 1],
    **{name: ["7", 1.5, None, True, [], -1] for name in UINT_MAX},
    **dict.fromkeys(TEXT_COLUMNS, NOT_A_STRING),
}
PAST_TIME = [
    "1899-12-31T23:59:59.999Z",
    "2300-01-01T00:00:00Z",
    "2299-12-31T23:00:00-01:00",  # 2300-01-01 in UTC
    "1900-01-01T00:30:00+01:00",  # 1899-12-31 in UTC
]
# Bytes that are not UTF-8: a stray continuation byte, bytes never used, an overlong encoding,
# a surrogate and a code point past U+10FFFF encoded, a sequence cut short.
NOT_UTF8 = [b"\x80", b"\xff", b"\xfe", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80", b"\xc3", b"\xe2\x82"]  # fmt: skip
# Not records at all, or not objects, or nested past any stack.
NOT_RECORDS: list[bytes | None] = [
    None,
    b"",
    b" \n\t",
    b"null",
    b"42",
    b'"text"',
    b"[1, 2]",
    b"1e999999",
    b"[" * DEEP,
    b'{"a": ' * DEEP,
    b"\xef\xbb\xbf{}",
]


def valid_record(attempt_id: uuid.UUID) -> st.SearchStrategy[AttemptRecord]:
    """A record the dispatcher could write: any values within the contract, sometimes one
    text at its very bound."""

    @st.composite
    def build(draw: st.DrawFn) -> AttemptRecord:
        fields: dict[str, object] = {
            "attempt_id": attempt_id,
            "attempted_at": draw(TIMES),
            "status": draw(st.sampled_from(AttemptStatus)),
            "postback_id": draw(st.uuids()),
            "postback_type": draw(st.sampled_from(PostbackType)),
            "method": draw(st.sampled_from(HttpMethod)),
            "trigger": draw(st.sampled_from(Trigger)),
            "refire_of": draw(st.none() | st.uuids()),
            "offer_id": draw(st.integers(0, UINT64_MAX)),
            "publisher_id": draw(st.integers(0, UINT64_MAX)),
            "response_code": draw(st.integers(0, UINT_MAX["response_code"])),
            "latency_ms": draw(st.integers(0, UINT_MAX["latency_ms"])),
            # The contract starts at 1 (the first attempt); the table would take 0.
            "attempt_number": draw(st.integers(1, UINT_MAX["attempt_number"])),
            **{name: draw(TEXT) for name in TEXT_COLUMNS},
        }
        if draw(st.booleans()):
            name = draw(st.sampled_from(TEXT_COLUMNS))
            fields[name] = draw(CHARS) * TEXT_LIMITS[name]
        return AttemptRecord.model_validate(fields)

    return build()


@st.composite
def valid_case(draw: st.DrawFn, attempt_id: uuid.UUID) -> Case:
    record = draw(valid_record(attempt_id))
    extra = draw(
        st.none() | st.sampled_from([b'"newer_field": {"a": [1, 2.5, null]}', b'"n": 1e3'])
    )
    value = encoded(record) if extra is None else with_member(record, extra)
    return Case(value, Fate.STORED, "valid", record)


@st.composite
def hostile_case(
    draw: st.DrawFn, attempt_id: uuid.UUID, kinds: Sequence[str] | None = None
) -> Case:
    """One record the check must refuse (or, for the last kind, ClickHouse)."""
    record = draw(valid_record(attempt_id))
    kind = draw(st.sampled_from(kinds or HOSTILE_KINDS))
    if kind == "random bytes":
        return Case(draw(st.binary(max_size=80)), Fate.REFUSED_BY_CHECK, kind)
    if kind == "not a record":
        return Case(draw(st.sampled_from(NOT_RECORDS)), Fate.REFUSED_BY_CHECK, kind)
    if kind == "wrong type":
        name = draw(st.sampled_from(sorted(WRONG_VALUES)))
        wrong = draw(st.sampled_from(WRONG_VALUES[name]))
        return Case(with_fields(record, **{name: wrong}), Fate.REFUSED_BY_CHECK, f"{kind} {name}")
    if kind == "missing":
        name = draw(st.sampled_from(REQUIRED))
        return Case(with_fields(record, **{name: ...}), Fate.REFUSED_BY_CHECK, f"{kind} {name}")
    if kind == "past a bound":
        return Case(draw(past_a_bound(record)), Fate.REFUSED_BY_CHECK, kind)
    if kind == "not UTF-8":
        return Case(draw(not_utf8(record)), Fate.REFUSED_BY_CHECK, kind)
    if kind == "raw control byte":
        name = draw(st.sampled_from(TEXT_COLUMNS))
        byte = bytes([draw(st.integers(0, 0x1F))])
        value = with_raw(record, name, b'"a' + byte + b'b"')
        return Case(value, Fate.REFUSED_BY_CHECK, f"{kind} in {name}")
    if kind == "nested in a field":
        name = draw(st.sampled_from([*TEXT_COLUMNS, "unknown"]))
        deep = b"[" * DEEP + b"]" * DEEP
        value = (
            with_member(record, b'"x": ' + deep)
            if name == "unknown"
            else with_raw(record, name, deep)
        )
        return Case(value, Fate.REFUSED_BY_CHECK, f"{kind} {name}")
    return Case(draw(read_otherwise(record)), Fate.REFUSED_BY_CLICKHOUSE, kind, record)


READ_OTHERWISE = "ClickHouse reads it otherwise"
HOSTILE_KINDS = [
    "random bytes", "not a record", "wrong type", "missing", "past a bound", "not UTF-8",
    "raw control byte", "nested in a field", READ_OTHERWISE,
]  # fmt: skip


@st.composite
def past_a_bound(draw: st.DrawFn, record: AttemptRecord) -> bytes:
    name = draw(st.sampled_from([*TEXT_COLUMNS, *UINT_MAX, "attempted_at"]))
    if name in TEXT_LIMITS:
        return with_fields(record, **{name: draw(CHARS) * (TEXT_LIMITS[name] + 1)})
    if name in UINT_MAX:
        past = draw(st.sampled_from([UINT_MAX[name] + 1, -1, 10**30, -(2**63) - 1]))
        return with_fields(record, **{name: past})
    return with_fields(record, attempted_at=draw(st.sampled_from(PAST_TIME)))


@st.composite
def not_utf8(draw: st.DrawFn, record: AttemptRecord) -> bytes:
    """Bytes that are not UTF-8 inside a string: of a column, of a field the table does not
    know (which a decoder may skip unread), or of a field's name."""
    bad = draw(st.sampled_from(NOT_UTF8))
    around = draw(st.text(st.characters(max_codepoint=0x7E, min_codepoint=0x20), max_size=5))
    around = around.replace("\\", "").replace('"', "")
    text = b'"' + around.encode() + bad + around.encode() + b'"'
    where = draw(st.sampled_from([*TEXT_COLUMNS, "unknown field", "field name"]))
    if where == "unknown field":
        return with_member(record, b'"note": ' + text)
    if where == "field name":
        return with_member(record, text + b": 1")
    return with_raw(record, where, text)


@st.composite
def read_otherwise(draw: st.DrawFn, record: AttemptRecord) -> bytes:
    """Valid JSON that msgspec reads as a valid record and ClickHouse does not read at all:
    an unsigned number written "-0", RFC 3339's lower-case "t" and "z", an escaped character
    inside a UUID."""
    way = draw(st.sampled_from(["-0", "lower-case time", "escaped UUID"]))
    if way == "-0":
        return with_raw(record, "offer_id", b"-0")
    if way == "lower-case time":
        at = record.attempted_at.strftime("%Y-%m-%dt%H:%M:%S.%fz")
        return with_fields(record, attempted_at=at)
    escaped = str(record.attempt_id).replace("-", "\\u002d").encode()
    return with_raw(record, "attempt_id", b'"' + escaped + b'"')


@st.composite
def batches(draw: st.DrawFn, max_size: int = 12, every_fate: bool = False) -> list[Case]:
    """Valid and hostile records mixed, now and then a valid one again (a producer's retry).
    Every record that can reach the table has its own attempt_id. With `every_fate`, the batch
    has at least one record of each Fate, wherever they fall."""
    cases: list[Case] = []
    for n in range(draw(st.integers(1, max_size))):
        attempt_id = uuid.UUID(int=n + 1)
        choice = draw(st.sampled_from(["valid", "hostile", "repeat"]))
        stored = [c for c in cases if c.fate is Fate.STORED]
        if choice == "repeat" and stored:
            cases.append(Case(draw(st.sampled_from(stored)).value, Fate.REPEAT, "repeat"))
        elif choice == "hostile":
            cases.append(draw(hostile_case(attempt_id)))
        else:
            cases.append(draw(valid_case(attempt_id)))
    if every_fate:
        ids = iter(uuid.UUID(int=max_size + n + 1) for n in range(3))
        by_check = [k for k in HOSTILE_KINDS if k != READ_OTHERWISE]
        for case in [
            draw(hostile_case(next(ids), by_check)),
            draw(hostile_case(next(ids), [READ_OTHERWISE])),
        ]:
            cases.insert(draw(st.integers(0, len(cases))), case)
        valid = draw(valid_case(next(ids)))
        at = draw(st.integers(0, len(cases)))
        cases.insert(at, valid)
        cases.insert(
            draw(st.integers(at + 1, len(cases))), Case(valid.value, Fate.REPEAT, "repeat")
        )
    return cases
