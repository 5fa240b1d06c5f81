"""Reading the attempt log from the embedded ClickHouse engine, checked against Python.

Every filter answer is compared with the same filter computed in Python over the generated
rows, paging through every page, so order, pagination and filtering are checked together.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest

from postbacks.attempts import AttemptRecord
from postbacks.store.chdb_backend import EmbeddedStore
from query_api.logs.filters import parse_log_query
from query_api.logs.reader import TABLE, LogPage, read_attempt, read_logs
from tests.attempts import attempt_record, clickhouse_order, insert_attempts

BASE = datetime(2026, 11, 28, 1, 2, 3, 456_000, tzinfo=UTC)
BIG = 2**53 + 1  # not exact as a float: catches a JSON path that goes through doubles
U64 = 2**64 - 1

NAMES = ["Alpha Summer", "alpha winter", "ALPHA-fall", "Beta É café", "béta ÉCOLE", "Gamma_100%"]
OFFERS = [0, 1, 12, 112, 120, 1203, 21, 4212, U64]
PUBLISHERS = [0, 4, 24, 42, 420, 1042, BIG]
EVENTS = ["purchase", "Purchase_2", "REG", "sign%up"]
TRANSACTIONS = ["tx'quote", "tx\\back", "tx\ttab", "tx\nline", "TX-abc", "tx-ABC", "tx_1", "tx%1"]
SUCCESS_CODES = [200, 204]
FAILURE_CODES = [0, 404, 500, 502, 503, 5000, 65535]
CAMPAIGNS = ["Alpha", "beta", "GAMMA", "100%", "a_b"]
ERRORS = ["timeout after 5000 ms", "HTTP 502 Bad Gateway", "Connection REFUSED", "dns: no host"]
RESPONSES = ["", "OK", "ok", "<html>Error 500</html>", '{"ok":false}', "Ünïcode ÉRROR"]


def _uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


def make_records(count: int, seed: int, instants: int) -> list[AttemptRecord]:
    """`count` varied attempts spread over `instants` distinct milliseconds (so many tie)."""
    rng = random.Random(seed)
    records = []
    for _ in range(count):
        postback_type = rng.choice(["Click", "Conversion", "Event"])
        failed = rng.random() < 0.4
        tx = rng.choice(TRANSACTIONS)
        records.append(
            attempt_record(
                attempt_id=_uuid(rng),
                attempted_at=BASE + timedelta(milliseconds=rng.randrange(instants) * 7),
                status="Failed" if failed else "Success",
                postback_id=_uuid(rng),
                postback_name=rng.choice(NAMES),
                postback_type=postback_type,
                offer_id=rng.choice(OFFERS),
                publisher_id=rng.choice(PUBLISHERS),
                event_id=rng.choice(EVENTS) if postback_type == "Event" else "",
                transaction_id=tx,
                response_code=rng.choice(FAILURE_CODES if failed else SUCCESS_CODES),
                url=f"https://Example.com/cb?tx={tx}&campaign={rng.choice(CAMPAIGNS)}",
                method=rng.choice(["GET", "POST"]),
                error=rng.choice(ERRORS) if failed else "",
                server_response=rng.choice(RESPONSES),
                latency_ms=rng.randrange(5000),
                trigger=rng.choice(["auto", "refire", "test"]),
                refire_of=_uuid(rng) if rng.random() < 0.2 else None,
                source=json.dumps({"type": postback_type, "n": rng.randrange(100)}),
            )
        )
    return records


RECORDS = make_records(300, seed=1128, instants=40)


def newest_first(records: Sequence[AttemptRecord]) -> list[str]:
    return [str(r.attempt_id) for r in sorted(records, key=clickhouse_order, reverse=True)]


async def page_through(
    store: EmbeddedStore, pairs: list[tuple[str, str]], limit: int
) -> list[LogPage]:
    """Every page for `pairs`, each request parsed from its query string like the route does."""
    pages: list[LogPage] = []
    cursor: list[tuple[str, str]] = []
    seen: set[str] = set()
    while True:
        page = await read_logs(store, parse_log_query([*pairs, ("limit", str(limit)), *cursor]))
        pages.append(page)
        assert len(page.items) <= limit
        if page.next_cursor is None:
            return pages
        assert len(page.items) == limit
        # A cursor that does not move would page forever; fail here instead of at the timeout.
        assert page.next_cursor not in seen, f"page {len(pages)} repeats a cursor"
        seen.add(page.next_cursor)
        cursor = [("cursor", page.next_cursor)]


def ids(pages: Sequence[LogPage]) -> list[str]:
    return [item["attempt_id"] for page in pages for item in page.items]


# --- every column, every operator -----------------------------------------------------------


def _text(record: AttemptRecord, column: str) -> str:
    value = getattr(record, column)
    return str(value)


def _is(column: str, values: Sequence[str]) -> Callable[[AttemptRecord], bool]:
    return lambda r: _text(r, column) in values


def _contains(column: str, needles: Sequence[str]) -> Callable[[AttemptRecord], bool]:
    return lambda r: any(n.lower() in _text(r, column).lower() for n in needles)


def _not(matches: Callable[[AttemptRecord], bool]) -> Callable[[AttemptRecord], bool]:
    return lambda r: not matches(r)


@dataclass(frozen=True)
class ColumnCase:
    column: str
    values: tuple[str, str]  # for is / is_not: both occur in RECORDS
    needles: tuple[str, str]  # for contains: mixed case, as a person would type them


COLUMN_CASES = [
    ColumnCase("status", ("Failed", "Success"), ("fAIL", "ucc")),
    ColumnCase("postback_name", ("Alpha Summer", "béta ÉCOLE"), ("alpha", "é")),
    ColumnCase("postback_type", ("Event", "Click"), ("VER", "ick")),
    # 12 is inside 112, 120, 1203 and 4212: `is` must not match those, `contains` must.
    ColumnCase("offer_id", ("12", "1203"), ("12", "0")),
    ColumnCase("publisher_id", ("42", str(BIG)), ("42", "99")),
    ColumnCase("event_id", ("", "purchase"), ("PURCH", "%")),
    ColumnCase("transaction_id", ("tx'quote", "tx\\back"), ("TX-", "\t")),
    ColumnCase("response_code", ("0", "502"), ("50", "0")),
    ColumnCase("url", ("https://Example.com/cb?tx=TX-abc&campaign=Alpha", "nope"), ("=alpha", "_")),
    ColumnCase("error", ("", "HTTP 502 Bad Gateway"), ("refused", "5")),
    ColumnCase("server_response", ("", "OK"), ("érror", "ok")),
]


def _filter_cases() -> list[Any]:
    cases = []
    for c in COLUMN_CASES:
        col, (v1, v2), (n1, n2) = c.column, c.values, c.needles
        cases += [
            pytest.param([(col, v1)], _is(col, [v1]), id=f"{col}-is"),
            pytest.param([(col, v1), (col, v2)], _is(col, [v1, v2]), id=f"{col}-is-any"),
            pytest.param([(f"{col}__is_not", v1)], _not(_is(col, [v1])), id=f"{col}-is_not"),
            pytest.param(
                [(f"{col}__is_not", v1), (f"{col}__is_not", v2)],
                _not(_is(col, [v1, v2])),
                id=f"{col}-is_not-all",
            ),
            pytest.param([(f"{col}__contains", n1)], _contains(col, [n1]), id=f"{col}-contains"),
            pytest.param(
                [(f"{col}__contains", n1), (f"{col}__contains", n2)],
                _contains(col, [n1, n2]),
                id=f"{col}-contains-any",
            ),
        ]
    return cases


OTHER_CASES = [
    pytest.param([("status", "failed")], lambda r: False, id="is-is-case-sensitive"),
    pytest.param([("offer_id", "999")], lambda r: False, id="is-absent-number"),
    pytest.param([("event_id__is_not", "")], lambda r: r.event_id != "", id="event_id-not-empty"),
    pytest.param(
        [("status", "Failed"), ("publisher_id", "42")],
        lambda r: r.status == "Failed" and r.publisher_id == 42,
        id="two-columns-and",
    ),
    pytest.param(
        [
            ("postback_type", "Event"),
            ("postback_type", "Click"),
            ("postback_type__is_not", "Click"),
        ],
        lambda r: r.postback_type == "Event",
        id="is-and-is_not-on-one-column",
    ),
    pytest.param(
        [("url__contains", "ALPHA"), ("error__is_not", ""), ("response_code__contains", "50")],
        lambda r: "alpha" in r.url.lower() and r.error != "" and "50" in str(r.response_code),
        id="three-columns-and",
    ),
    pytest.param(
        [("url__contains", "100%"), ("transaction_id__contains", "_")],
        lambda r: "100%" in r.url and "_" in r.transaction_id,
        id="like-wildcards-are-literal",
    ),
]


@pytest.fixture
async def seeded(embedded_store: EmbeddedStore) -> EmbeddedStore:
    await insert_attempts(embedded_store, RECORDS)
    return embedded_store


@pytest.mark.parametrize(("pairs", "matches"), _filter_cases() + OTHER_CASES)
async def test_filters_match_python(
    seeded: EmbeddedStore,
    pairs: list[tuple[str, str]],
    matches: Callable[[AttemptRecord], bool],
) -> None:
    expected = newest_first([r for r in RECORDS if matches(r)])
    assert ids(await page_through(seeded, pairs, limit=37)) == expected


def test_the_generated_rows_exercise_every_case() -> None:
    # A case whose answer is everything or nothing proves little; make sure the data varies.
    for case in COLUMN_CASES:
        for value in case.values[:1]:
            hits = sum(_is(case.column, [value])(r) for r in RECORDS)
            assert 0 < hits < len(RECORDS), (case.column, value)
        for needle in case.needles:
            hits = sum(_contains(case.column, [needle])(r) for r in RECORDS)
            assert 0 < hits < len(RECORDS), (case.column, needle)
    assert len({r.attempted_at for r in RECORDS}) < len(RECORDS) / 5


# --- pagination ----------------------------------------------------------------------------


async def test_ten_thousand_rows_page_out_exactly_once_in_order(
    embedded_store: EmbeddedStore,
) -> None:
    records = make_records(10_000, seed=10_000, instants=60)
    await insert_attempts(embedded_store, records, batch=2000)
    pages = await page_through(embedded_store, [], limit=997)
    assert len(pages) == 11
    assert ids(pages) == newest_first(records)


async def test_the_last_page_has_no_cursor_even_when_it_is_full(
    embedded_store: EmbeddedStore,
) -> None:
    await insert_attempts(embedded_store, RECORDS[:30])
    pages = await page_through(embedded_store, [], limit=10)
    assert [len(p.items) for p in pages] == [10, 10, 10]
    assert pages[-1].next_cursor is None


async def test_an_empty_log_is_one_empty_page(embedded_store: EmbeddedStore) -> None:
    assert await read_logs(embedded_store, parse_log_query([])) == LogPage([], None)


async def test_an_attempt_written_twice_is_listed_once(embedded_store: EmbeddedStore) -> None:
    # The log-writer may write a batch again after a crash; until ClickHouse merges the parts,
    # both copies are rows. Stop merges so that the copies certainly stay.
    await embedded_store.execute(f"SYSTEM STOP MERGES {embedded_store.table(TABLE)}")
    await insert_attempts(embedded_store, RECORDS[:100])
    await insert_attempts(embedded_store, RECORDS[:100])
    rows = await embedded_store.select(f"SELECT count() AS n FROM {embedded_store.table(TABLE)}")
    assert rows == [{"n": 200}]
    for limit in (1, 7, 1000):
        assert ids(await page_through(embedded_store, [], limit)) == newest_first(RECORDS[:100])


# --- time bounds ---------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (timedelta(milliseconds=7 * 5), timedelta(milliseconds=7 * 20)),
        (timedelta(milliseconds=7 * 5, microseconds=1), None),
        (None, timedelta(milliseconds=7 * 20, microseconds=1)),
        (timedelta(milliseconds=7 * 39), None),
        (None, timedelta(0)),
    ],
)
async def test_from_is_inclusive_and_to_exclusive(
    seeded: EmbeddedStore, start: timedelta | None, end: timedelta | None
) -> None:
    pairs = []
    if start is not None:
        pairs.append(("from", _iso(BASE + start)))
    if end is not None:
        pairs.append(("to", _iso(BASE + end)))
    expected = [
        r
        for r in RECORDS
        if (start is None or r.attempted_at >= BASE + start)
        and (end is None or r.attempted_at < BASE + end)
    ]
    assert ids(await page_through(seeded, pairs, limit=50)) == newest_first(expected)


async def test_offsets_in_bounds_mean_the_same_instant(seeded: EmbeddedStore) -> None:
    at = BASE + timedelta(milliseconds=7 * 10)
    utc = [("from", _iso(at)), ("status", "Failed")]
    shifted = [
        ("from", at.astimezone(timezone(timedelta(hours=-5))).isoformat()),
        ("status", "Failed"),
    ]
    assert ids(await page_through(seeded, utc, 100)) == ids(
        await page_through(seeded, shifted, 100)
    )


# --- what an item looks like ---------------------------------------------------------------


def expected_item(record: AttemptRecord) -> dict[str, Any]:
    """The record as the API shows it: §6 order, strings for UUIDs, RFC 3339 milliseconds."""
    return {
        "attempt_id": str(record.attempt_id),
        "attempted_at": record.attempted_at.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{record.attempted_at.microsecond // 1000:03d}Z",
        "status": record.status.value,
        "postback_id": str(record.postback_id),
        "postback_name": record.postback_name,
        "postback_type": record.postback_type.value,
        "offer_id": record.offer_id,
        "publisher_id": record.publisher_id,
        "event_id": record.event_id,
        "transaction_id": record.transaction_id,
        "response_code": record.response_code,
        "url": record.url,
        "method": record.method.value,
        "error": record.error,
        "server_response": record.server_response,
        "latency_ms": record.latency_ms,
        "trigger": record.trigger.value,
        "refire_of": None if record.refire_of is None else str(record.refire_of),
        "attempt_number": record.attempt_number,
        "source": record.source,
    }


async def test_detail_is_the_whole_record_with_source(seeded: EmbeddedStore) -> None:
    for record in RECORDS[:40]:
        item = await read_attempt(seeded, record.attempt_id)
        assert item == expected_item(record)
        assert item is not None
        assert list(item) == list(expected_item(record))  # §6 order


async def test_list_items_are_the_record_without_source(seeded: EmbeddedStore) -> None:
    by_id = {str(r.attempt_id): r for r in RECORDS}
    for item in (await read_logs(seeded, parse_log_query([("limit", "1000")]))).items:
        expected = expected_item(by_id[item["attempt_id"]])
        del expected["source"]
        assert item == expected
        assert list(item) == list(expected)


async def test_times_show_milliseconds_even_when_zero(embedded_store: EmbeddedStore) -> None:
    record = RECORDS[0].model_copy(
        update={"attempted_at": datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)}
    )
    await insert_attempts(embedded_store, [record])
    item = await read_attempt(embedded_store, record.attempt_id)
    assert item is not None
    assert item["attempted_at"] == "2027-01-02T03:04:05.000Z"
    assert item["offer_id"] == record.offer_id


async def test_an_unknown_attempt_is_none(seeded: EmbeddedStore) -> None:
    assert await read_attempt(seeded, UUID(int=12345, version=4)) is None
