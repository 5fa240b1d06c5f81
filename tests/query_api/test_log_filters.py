"""Parsing the /api/v1/logs query string, and the SQL it turns into (no store needed)."""

from __future__ import annotations

import base64
import re
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from query_api.logs.cursor import (
    CursorError,
    CursorPosition,
    after_condition,
    decode_cursor,
    encode_cursor,
)
from query_api.logs.filters import (
    DEFAULT_LIMIT,
    FILTERABLE_COLUMNS,
    ColumnFilter,
    InvalidLogQuery,
    LogQuery,
    parse_log_query,
    where_clause,
)

ELEVEN = [
    "status",
    "postback_name",
    "postback_type",
    "offer_id",
    "publisher_id",
    "event_id",
    "transaction_id",
    "response_code",
    "url",
    "error",
    "server_response",
]
AN_ID = UUID("0f6b3c1e-8d2a-4e4f-9c61-2b7a5d9e0a11")
A_CURSOR = encode_cursor(CursorPosition(1_795_828_567_325, AN_ID))


def test_the_filterable_columns_are_the_eleven_of_the_design() -> None:
    assert list(FILTERABLE_COLUMNS) == ELEVEN


def test_an_empty_query_string_is_the_first_page_of_everything() -> None:
    query = parse_log_query([])
    assert query == LogQuery(filters=(), from_ms=None, to_ms=None, limit=DEFAULT_LIMIT)
    assert DEFAULT_LIMIT == 50
    assert where_clause(query) == ("", {})


def test_operators_and_repeats_are_grouped_per_column_in_the_order_given() -> None:
    query = parse_log_query(
        [
            ("status", "Failed"),
            ("publisher_id", "42"),
            ("status", "Success"),
            ("url__contains", "Alpha"),
            ("url__contains", "beta"),
            ("offer_id__is_not", "7"),
            ("event_id", ""),
            ("response_code__contains", "50"),
        ]
    )
    assert query.filters == (
        ColumnFilter("status", "is", ("Failed", "Success")),
        ColumnFilter("publisher_id", "is", (42,)),
        ColumnFilter("url", "contains", ("Alpha", "beta")),
        ColumnFilter("offer_id", "is_not", (7,)),
        ColumnFilter("event_id", "is", ("",)),
        ColumnFilter("response_code", "contains", ("50",)),
    )


def _lowered_pattern(name: str) -> str:
    """The LIKE pattern `contains` builds from bound parameter `name`: lower-cased, with %, _
    and backslash escaped."""
    escaped = rf"replaceRegexpAll(lowerUTF8({{{name}:String}}), '([%_\\\\])', '\\\\\\1')"
    return f"concat('%', {escaped}, '%')"


def test_where_clause_binds_every_value_with_the_column_type() -> None:
    query = parse_log_query(
        [
            ("status", "Failed"),
            ("status", "Success"),
            ("offer_id__is_not", "7"),
            ("response_code", "502"),
            ("publisher_id__contains", "12"),
            ("url__contains", "a"),
            ("url__contains", "b"),
        ]
    )
    sql, params = where_clause(query)
    assert sql == (
        "WHERE status IN ({f0:String}, {f1:String})"
        " AND offer_id NOT IN ({f2:UInt64})"
        " AND response_code IN ({f3:UInt16})"
        f" AND lowerUTF8(toString(publisher_id)) LIKE {_lowered_pattern('f4')}"
        f" AND (lowerUTF8(url) LIKE {_lowered_pattern('f5')}"
        f" OR lowerUTF8(url) LIKE {_lowered_pattern('f6')})"
    )
    assert params == {
        "f0": "Failed",
        "f1": "Success",
        "f2": 7,
        "f3": 502,
        "f4": "12",
        "f5": "a",
        "f6": "b",
    }


def test_values_never_reach_the_sql_text() -> None:
    nasty = "x') OR 1=1 --\\'{f0:String}"
    sql, params = where_clause(
        parse_log_query([("error", nasty), ("url__contains", nasty), ("event_id__is_not", nasty)])
    )
    assert "OR 1=1" not in sql
    assert list(params.values()) == [nasty, nasty, nasty]


def test_time_bounds_and_cursor_join_the_where_clause() -> None:
    query = parse_log_query(
        [("from", "2026-11-28T00:00:00Z"), ("to", "2026-11-29T00:00:00Z"), ("cursor", A_CURSOR)]
    )
    sql, params = where_clause(query)
    cursor_sql, cursor_params = after_condition(CursorPosition(1_795_828_567_325, AN_ID))
    assert sql == (
        "WHERE attempted_at >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')"
        " AND attempted_at < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')"
        f" AND {cursor_sql}"
    )
    assert params == {"from_ms": 1_795_824_000_000, "to_ms": 1_795_910_400_000, **cursor_params}


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("2026-11-28T01:02:03Z", 1_795_827_723_000),
        ("2026-11-28T01:02:03.456Z", 1_795_827_723_456),
        ("2026-11-28t01:02:03.456z", 1_795_827_723_456),
        ("2026-11-28 01:02:03.4Z", 1_795_827_723_400),
        ("2026-11-28T03:02:03.456+02:00", 1_795_827_723_456),
        ("2026-11-27T20:02:03.456-05:00", 1_795_827_723_456),
        # Finer than a millisecond rounds up: `from` stays inclusive, `to` exclusive.
        ("2026-11-28T01:02:03.4561Z", 1_795_827_723_457),
        ("2026-11-28T01:02:03.456000001Z", 1_795_827_723_457),
        ("2026-11-28T01:02:03.456000Z", 1_795_827_723_456),
    ],
)
def test_rfc3339_times_become_milliseconds(text: str, millis: int) -> None:
    assert parse_log_query([("from", text)]).from_ms == millis
    assert parse_log_query([("to", text)]).to_ms == millis


@pytest.mark.parametrize("limit", ["1", "50", "1000", "007"])
def test_limit_in_range(limit: str) -> None:
    assert parse_log_query([("limit", limit)]).limit == int(limit)


def test_numeric_bounds_are_accepted() -> None:
    query = parse_log_query(
        [("offer_id", str(2**64 - 1)), ("publisher_id__is_not", "0"), ("response_code", "65535")]
    )
    assert [f.values for f in query.filters] == [(2**64 - 1,), (0,), (65535,)]


def test_a_cursor_round_trips() -> None:
    assert parse_log_query([("cursor", A_CURSOR)]).cursor == CursorPosition(
        1_795_828_567_325, AN_ID
    )
    assert re.fullmatch(r"[A-Za-z0-9_-]+", A_CURSOR)


# (pairs, words the message must contain: the bad parameter, the bad value, the way out)
ERRORS: list[tuple[list[tuple[str, str]], list[str]]] = [
    ([("stauts", "Failed")], ["'stauts'", "did you mean 'status'", "publisher_id"]),
    ([("Status", "Failed")], ["'Status'", "did you mean 'status'"]),
    ([("method", "GET")], ["'method'", "filterable columns are"]),
    ([("attempt_id", "x")], ["'attempt_id'", "filterable columns are"]),
    ([("", "x")], ["''", "filterable columns are"]),
    ([("__contains", "x")], ["'__contains'"]),
    ([("status__like", "Fail")], ["'like'", "'status__like'", "status__contains=V"]),
    ([("status__is", "Failed")], ["'is'", "status=V"]),
    ([("status__is_not__x", "F")], ["'is_not__x'"]),
    ([("offer_id", "abc")], ["'offer_id'", "'abc'", "whole number", "offer_id__contains"]),
    ([("offer_id", "-1")], ["'offer_id'", "'-1'"]),
    ([("offer_id", "1.5")], ["'offer_id'", "'1.5'"]),
    ([("offer_id", " 5")], ["'offer_id'", "' 5'"]),
    ([("offer_id", "+5")], ["'offer_id'", "'+5'"]),
    ([("offer_id", "5_000")], ["'offer_id'", "'5_000'"]),
    ([("offer_id", "٣")], ["'offer_id'", "'٣'"]),
    ([("offer_id", "")], ["'offer_id'", "''"]),
    ([("publisher_id__is_not", str(2**64))], ["'publisher_id__is_not'", str(2**64)]),
    ([("publisher_id", "9" * 5000)], ["'publisher_id'"]),
    ([("response_code", "65536")], ["'response_code'", "'65536'", "65535"]),
    ([("response_code__is_not", "x")], ["'response_code__is_not'", "'x'"]),
    ([("url__contains", "")], ["'url__contains'", "non-empty"]),
    ([("offer_id__contains", "")], ["'offer_id__contains'", "non-empty"]),
    ([("from", "yesterday")], ["'from'", "'yesterday'", "RFC 3339"]),
    ([("from", "")], ["'from'", "RFC 3339"]),
    ([("to", "2026-11-28")], ["'to'", "'2026-11-28'"]),
    ([("to", "2026-11-28T01:02:03")], ["'to'", "'2026-11-28T01:02:03'"]),
    ([("to", "2026-13-28T01:02:03Z")], ["'to'", "'2026-13-28T01:02:03Z'"]),
    ([("to", "2026-11-28T25:02:03Z")], ["'to'"]),
    ([("to", "2026-11-28T01:02:03." + "1" * 40 + "Z")], ["'to'"]),
    ([("from", "2026-11-28T01:02:03 02:00")], ["'from'", "%2B"]),
    ([("from", "1899-12-31T23:59:59Z")], ["'from'", "1900"]),
    ([("to", "2300-01-01T00:00:00Z")], ["'to'", "2299"]),
    (
        [("from", "2026-11-29T00:00:00Z"), ("to", "2026-11-28T00:00:00Z")],
        ["'from'", "earlier than 'to'"],
    ),
    (
        [("from", "2026-11-28T00:00:00Z"), ("to", "2026-11-28T00:00:00Z")],
        ["'from'", "earlier than 'to'"],
    ),
    ([("limit", "0")], ["'limit'", "'0'", "1 to 1000"]),
    ([("limit", "1001")], ["'limit'", "'1001'"]),
    ([("limit", "ten")], ["'limit'", "'ten'"]),
    ([("limit", "")], ["'limit'"]),
    ([("limit", "-5")], ["'limit'", "'-5'"]),
    ([("limit", "5"), ("limit", "6")], ["'limit'", "more than once"]),
    ([("from", "2026-11-28T00:00:00Z")] * 2, ["'from'", "more than once"]),
    ([("to", "2026-11-28T00:00:00Z")] * 2, ["'to'", "more than once"]),
    ([("cursor", A_CURSOR)] * 2, ["'cursor'", "more than once"]),
    ([("cursor", "garbage!")], ["'cursor'", "'garbage!'", "next_cursor"]),
    ([("cursor", "")], ["'cursor'", "next_cursor"]),
    ([("cursor", "x" * 5000)], ["'cursor'", "next_cursor"]),
]


@pytest.mark.parametrize(("pairs", "words"), ERRORS)
def test_bad_query_strings_say_what_to_fix(pairs: list[tuple[str, str]], words: list[str]) -> None:
    with pytest.raises(InvalidLogQuery) as info:
        parse_log_query(pairs)
    for word in words:
        assert word in str(info.value)


def test_invalid_log_query_is_a_value_error() -> None:
    assert issubclass(InvalidLogQuery, ValueError)


def _b64(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "!!!!",
        "a",  # one base64 character cannot encode a byte
        _b64(b"not json"),
        _b64(b"\xff\xfe"),
        _b64(b"[1, 2]"),
        _b64(b'{"t": 1}'),
        _b64(b'{"t": 1, "id": "0f6b3c1e-8d2a-4e4f-9c61-2b7a5d9e0a11", "x": 1}'),
        _b64(b'{"t": "1", "id": "0f6b3c1e-8d2a-4e4f-9c61-2b7a5d9e0a11"}'),
        _b64(b'{"t": true, "id": "0f6b3c1e-8d2a-4e4f-9c61-2b7a5d9e0a11"}'),
        _b64(b'{"t": 1.5, "id": "0f6b3c1e-8d2a-4e4f-9c61-2b7a5d9e0a11"}'),
        _b64(b'{"t": 99999999999999999, "id": "0f6b3c1e-8d2a-4e4f-9c61-2b7a5d9e0a11"}'),
        _b64(b'{"t": 1, "id": "not-a-uuid"}'),
        _b64(b'{"t": 1, "id": 5}'),
        A_CURSOR[:-3],
        A_CURSOR + "$",
    ],
)
def test_decode_cursor_refuses_what_encode_cursor_did_not_make(text: str) -> None:
    with pytest.raises(CursorError):
        decode_cursor(text)
    with pytest.raises(InvalidLogQuery, match="'cursor'"):
        parse_log_query([("cursor", text)])


KEYS = st.sampled_from(
    [
        *ELEVEN,
        *(f"{c}__is_not" for c in ELEVEN),
        *(f"{c}__contains" for c in ELEVEN),
        "from",
        "to",
        "limit",
        "cursor",
        "status__like",
        "nope",
    ]
)


@given(st.lists(st.tuples(KEYS | st.text(max_size=12), st.text(max_size=30)), max_size=6))
def test_any_query_string_parses_or_raises_invalid_log_query(
    pairs: list[tuple[str, str]],
) -> None:
    try:
        query = parse_log_query(pairs)
    except InvalidLogQuery:
        return
    sql, params = where_clause(query)
    # Every placeholder is bound, and nothing else is.
    assert set(re.findall(r"\{(\w+):", sql)) == set(params)
