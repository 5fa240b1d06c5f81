"""Counting and exporting the attempt log, on real chDB and through the real app.

Every answer is checked against the same selection computed in Python over the generated rows,
which carry the values a CSV file and a spreadsheet find hardest: commas, quotes, CR and LF,
non-ASCII text, and leading =, +, -, @ (formula injection), also behind leading blanks.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from postbacks.attempts import AttemptRecord
from postbacks.store import Params, Row, StoreError
from postbacks.store.chdb_backend import EmbeddedStore
from query_api.logs.counts import count_logs
from query_api.logs.export import COLUMNS, export_csv, start_export
from query_api.logs.filters import parse_log_query
from query_api.logs.reader import TABLE
from tests.attempts import attempt_record, clickhouse_order, insert_attempts

HEADER = [
    "Time", "Attempt ID", "Status", "Postback Name", "Postback Type", "Offer ID", "Publisher ID",
    "Event ID", "Transaction ID", "Response Code", "URL", "Error", "Server Response",
]  # fmt: skip
HOSTILE = [
    "plain", "comma, inside", 'quote " inside', '"quoted"', "line\nfeed", "carriage\rreturn",
    "crlf\r\nboth", "é中😀 unicode", "=1+1", "+SUM(A1:A9)", "-2+3", "@cmd", "\tTab first",
    "\rCR first", "=HYPERLINK(\"http://evil\",\"x\")", " =space first", "a=b", "",
]  # fmt: skip
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)


def make_records(count: int, seed: int) -> list[AttemptRecord]:
    """`count` attempts within the last hour, sharing 3,000 instants (so many tie)."""
    rng = random.Random(seed)
    records = []
    for _ in range(count):
        kind = rng.choice(["Click", "Conversion", "Event"])
        failed = rng.random() < 0.4
        records.append(
            attempt_record(
                attempt_id=UUID(int=rng.getrandbits(128), version=4),
                attempted_at=NOW - timedelta(milliseconds=rng.randrange(3000) * 1000 + 7),
                status="Failed" if failed else "Success",
                postback_id=UUID(int=rng.getrandbits(128), version=4),
                postback_name=rng.choice(HOSTILE[:-1]),
                postback_type=kind,
                offer_id=rng.choice([0, 12, 1203, 2**64 - 1]),
                publisher_id=rng.choice([4, 42, 420]),
                event_id=rng.choice(HOSTILE) if kind == "Event" else "",
                transaction_id=rng.choice(HOSTILE),
                response_code=rng.choice([0, 500, 502] if failed else [200, 204]),
                url=f"https://example.com/pb?tx={rng.choice(HOSTILE)}",
                error=rng.choice(HOSTILE) if failed else "",
                server_response=rng.choice(HOSTILE),
                latency_ms=rng.randrange(5000),
                source="{}",
            )
        )
    return records


def newest_first(records: Sequence[AttemptRecord]) -> list[AttemptRecord]:
    return sorted(records, key=clickhouse_order, reverse=True)


# OWASP's = + - @, then | and % and the full-width = + - @ that other guidance adds.
FORMULA_FIRST = "=+-@|%\uff1d\uff0b\uff0d\uff20"


def blank_or_control(character: str) -> bool:
    return character.isspace() or unicodedata.category(character) in ("Cc", "Cf")


def spreadsheet_safe(text: str) -> str:
    """The rule the export promises, restated: a leading ' on cells a spreadsheet could run
    (a formula character first, or any whitespace or control character first)."""
    first = text[:1]
    may_run = first != "" and (first in FORMULA_FIRST or blank_or_control(first))
    return "'" + text if may_run else text


def a_spreadsheet_could_run(cell: str) -> bool:
    """The most forgiving spreadsheet: it drops every leading blank and control character,
    then reads a formula from a formula character (tab and CR first count on their own)."""
    stripped = "".join(itertools.dropwhile(blank_or_control, cell))
    return cell[:1] in ("\t", "\r") or (stripped != "" and stripped[0] in FORMULA_FIRST)


def csv_row(r: AttemptRecord) -> list[str]:
    time = (
        r.attempted_at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{r.attempted_at.microsecond // 1000:03d}Z"
    )
    values = [
        time, str(r.attempt_id), r.status.value, r.postback_name, r.postback_type.value,
        str(r.offer_id), str(r.publisher_id), r.event_id, r.transaction_id,
        str(r.response_code), r.url, r.error, r.server_response,
    ]  # fmt: skip
    return [spreadsheet_safe(v) for v in values]


def parse_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM that tells Excel the file is UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


async def export_body(store: EmbeddedStore, pairs: list[tuple[str, str]], page: int) -> bytes:
    return b"".join([c async for c in export_csv(store, parse_log_query(pairs), page)])


RECORDS = make_records(600, seed=6)
Matches = Callable[[AttemptRecord], bool]
FROM, TO = NOW - timedelta(minutes=30), NOW - timedelta(minutes=10)


@pytest.mark.parametrize(
    ("pairs", "matches"),
    [
        pytest.param([], lambda r: True, id="everything"),
        pytest.param([("status", "Failed")], lambda r: r.status == "Failed", id="status"),
        pytest.param(
            [("status", "Failed"), ("publisher_id", "42")],
            lambda r: r.status == "Failed" and r.publisher_id == 42,
            id="two-columns",
        ),
        pytest.param(
            [("transaction_id", "crlf\r\nboth"), ("transaction_id", "comma, inside")],
            lambda r: r.transaction_id in ("crlf\r\nboth", "comma, inside"),
            id="hostile-is-any",
        ),
        pytest.param(
            [("postback_name__contains", '"'), ("error__is_not", "")],
            lambda r: '"' in r.postback_name and r.error != "",
            id="contains-and-is_not",
        ),
        pytest.param(
            [("from", FROM.isoformat()), ("to", TO.isoformat())],
            lambda r: FROM <= r.attempted_at < TO,
            id="from-to",
        ),
    ],
)
async def test_count_and_export_match_python(
    embedded_store: EmbeddedStore, pairs: list[tuple[str, str]], matches: Matches
) -> None:
    await insert_attempts(embedded_store, RECORDS)
    expected = newest_first([r for r in RECORDS if matches(r)])
    assert expected  # a filter that selects nothing proves little
    assert await count_logs(embedded_store, parse_log_query(pairs)) == len(expected)
    rows = parse_csv(await export_body(embedded_store, pairs, page=97))
    assert rows == [HEADER, *map(csv_row, expected)]


async def test_an_attempt_written_twice_exports_once(embedded_store: EmbeddedStore) -> None:
    # The log-writer stores an attempt once (tests/log_writer/test_exactly_once.py); a copy can
    # still appear when two writers race through a rebalance, until a merge removes it. Stop
    # merges so that the copies certainly stay.
    await embedded_store.execute(f"SYSTEM STOP MERGES {embedded_store.table(TABLE)}")
    await insert_attempts(embedded_store, RECORDS[:50])
    await insert_attempts(embedded_store, RECORDS[:50])
    rows = await embedded_store.select(f"SELECT count() AS n FROM {embedded_store.table(TABLE)}")
    assert rows == [{"n": 100}]
    # Pages of 7: copies of one attempt fall inside a page and across page ends.
    chunks = [c async for c in export_csv(embedded_store, parse_log_query([]), 7)]
    assert len(chunks) == 8  # one chunk per page: 7 * 7 + 1
    parsed = [list(csv.reader(io.StringIO(c.decode("utf-8-sig"), newline=""))) for c in chunks]
    assert [len(p) for p in parsed] == [8, 7, 7, 7, 7, 7, 7, 1]  # the header rides with page 1
    assert [row for p in parsed for row in p] == [HEADER, *map(csv_row, newest_first(RECORDS[:50]))]
    # The count is a plain count() (logs/counts.py says why): the copies count until the merge.
    assert await count_logs(embedded_store, parse_log_query([])) == 100
    await embedded_store.execute(f"SYSTEM START MERGES {embedded_store.table(TABLE)}")
    await embedded_store.execute(f"OPTIMIZE TABLE {embedded_store.table(TABLE)} FINAL")
    assert await count_logs(embedded_store, parse_log_query([])) == 50


async def test_formula_cells_get_a_leading_quote_and_nothing_else_changes(
    embedded_store: EmbeddedStore,
) -> None:
    defused = {
        "=1+1": "'=1+1",
        "+SUM(A1:A9)": "'+SUM(A1:A9)",
        "-2+3": "'-2+3",
        "@cmd": "'@cmd",
        "\tTab first": "'\tTab first",
        "\rCR first": "'\rCR first",
        '=HYPERLINK("http://evil","x")': '\'=HYPERLINK("http://evil","x")',
        " =space first": "' =space first",
    }
    await insert_attempts(embedded_store, RECORDS)
    exported = parse_csv(await export_body(embedded_store, [], page=5000))[1:]
    cells = {row[1]: row[8] for row in exported}  # Attempt ID -> Transaction ID
    for r in RECORDS:
        assert cells[str(r.attempt_id)] == defused.get(r.transaction_id, r.transaction_id)
    assert {r.transaction_id for r in RECORDS} == set(HOSTILE)  # every value was exercised


# Whatever a spreadsheet might skip before a formula: whitespace (ASCII and Unicode), C0 and C1
# controls with NUL and DEL, and invisible format characters (zero-width space, BOM).
LEADING_FILLER = st.sampled_from(
    " \t\r\n\x0b\x0c\x00\x1b\x1f\x7f\x85\xa0\u2028\u3000\u200b\ufeff"
) | st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"])
# The log's text columns (the rest are UUIDs, a time and numbers), under their CSV headers.
TEXT_COLUMNS = {
    header: field
    for header, field in COLUMNS.items()
    if field not in ("attempted_at", "attempt_id", "offer_id", "publisher_id", "response_code")
}


class OneRowStore:
    """A store whose log holds one attempt, with `text` in every text column."""

    def __init__(self, text: str) -> None:
        self.row: Row = {
            "attempt_id": str(UUID(int=1, version=4)), "attempted_at_ms": 1_700_000_000_000,
            "postback_id": str(UUID(int=2, version=4)), "offer_id": 1, "publisher_id": 2,
            "response_code": 500, "method": "GET", "latency_ms": 3, "trigger": "event",
            "refire_of": None, "attempt_number": 1, **dict.fromkeys(TEXT_COLUMNS.values(), text),
        }  # fmt: skip

    def table(self, name: str) -> str:
        return f"postbacks.{name}"

    async def select(self, sql: str, params: Params | None = None) -> list[Row]:
        return [self.row]


@given(
    filler=st.text(LEADING_FILLER, max_size=6),
    formula=st.sampled_from(FORMULA_FIRST),
    rest=st.text(max_size=12),
)
def test_a_formula_behind_leading_blanks_or_controls_is_defused(
    filler: str, formula: str, rest: str
) -> None:
    text = filler + formula + rest

    async def export() -> bytes:
        return b"".join([c async for c in export_csv(OneRowStore(text), parse_log_query([]))])

    header, row = parse_csv(asyncio.run(export()))
    cells = dict(zip(header, row, strict=True))
    assert len(TEXT_COLUMNS) == 8
    for column in TEXT_COLUMNS:
        assert cells[column] == "'" + text, column  # the quote, and nothing else changed
    assert not any(a_spreadsheet_could_run(cell) for cell in row)


async def test_an_empty_log_exports_only_the_header(embedded_store: EmbeddedStore) -> None:
    assert parse_csv(await export_body(embedded_store, [], page=10)) == [HEADER]
    assert await count_logs(embedded_store, parse_log_query([])) == 0


class UnreachableStore:
    """A store that fails every query, as ClickHouse does while it is down."""

    def table(self, name: str) -> str:
        return f"postbacks.{name}"

    async def select(self, sql: str, params: Params | None = None) -> list[Row]:
        raise StoreError("connection refused")


async def test_start_export_fails_before_the_first_byte_and_then_yields_everything(
    embedded_store: EmbeddedStore,
) -> None:
    # The route awaits start_export before it sends a status line, so a store that is down is
    # an error response, not a 200 with a cut-off file.
    with pytest.raises(StoreError):
        await start_export(UnreachableStore(), parse_log_query([]))
    await insert_attempts(embedded_store, RECORDS[:30])
    chunks = await start_export(embedded_store, parse_log_query([]), page_size=7)
    assert b"".join([c async for c in chunks]) == await export_body(embedded_store, [], page=7)


# --- through the app --------------------------------------------------------------------------


async def test_export_over_http_has_every_row_once_newest_first(
    api: httpx.AsyncClient, embedded_store: EmbeddedStore
) -> None:
    records = make_records(12_345, seed=12_345)  # three internal pages of 5,000
    await insert_attempts(embedded_store, records, batch=5000)
    answer = await api.get("/api/v1/logs/export.csv")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = answer.headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="postbacks-logs-\d{8}T\d{6}Z\.csv"', disposition)
    rows = parse_csv(answer.content)
    assert rows[0] == HEADER
    assert len({row[1] for row in rows[1:]}) == len(rows) - 1 == len(records)
    assert rows[1:] == [csv_row(r) for r in newest_first(records)]

    failed = (await api.get("/api/v1/logs/export.csv", params={"status": "Failed"})).content
    assert parse_csv(failed)[1:] == [
        csv_row(r) for r in newest_first(records) if r.status == "Failed"
    ]


async def test_count_over_http_equals_what_paging_lists(
    api: httpx.AsyncClient, embedded_store: EmbeddedStore
) -> None:
    await insert_attempts(embedded_store, RECORDS)
    params: dict[str, str] = {"status": "Failed", "error__contains": ","}
    answer = await api.get("/api/v1/logs/count", params=params)
    assert answer.status_code == 200, answer.text
    listed: list[str] = []
    cursor: dict[str, str] = {}
    while True:
        page = (await api.get("/api/v1/logs", params={**params, "limit": "13", **cursor})).json()
        listed += [item["attempt_id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = {"cursor": page["next_cursor"]}
    assert answer.json() == {"count": len(listed)}
    assert len(listed) == sum(r.status == "Failed" and "," in r.error for r in RECORDS) > 13


@pytest.mark.parametrize("path", ["/api/v1/logs/count", "/api/v1/logs/export.csv"])
@pytest.mark.parametrize(
    ("query", "named"),
    [
        # A cursor that /api/v1/logs would take: refused because it has no meaning here.
        (
            "cursor=eyJ0IjoxLCJpZCI6IjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMCJ9",
            "'cursor' does",
        ),
        ("limit=10", "'limit' does not apply"),
        ("status=Failed&limit=2000", "'limit' does not apply"),
        ("&".join(["status=Failed"] * 201), "at most 200"),
        ("stauts=Failed", "stauts"),
        ("publisher_id=abc", "publisher_id"),
        ("from=yesterday", "from"),
        ("url__contains=", "url__contains"),
    ],
)
async def test_bad_parameters_get_400_naming_them_before_any_csv(
    api: httpx.AsyncClient, path: str, query: str, named: str
) -> None:
    answer = await api.get(f"{path}?{query}")
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert "content-disposition" not in answer.headers
    assert named in answer.json()["error"]["message"]
