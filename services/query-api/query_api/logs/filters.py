"""The query string of `GET /api/v1/logs` (design §7): parsed into a LogQuery, then into SQL.

Parameters, as (key, value) pairs in the order given (keys may repeat):

    c=V            c is V                     (is)
    c__is_not=V    c is not V                 (is not)
    c__contains=V  c contains V, ignoring case; on numeric columns, their decimal text
    from=T, to=T   RFC 3339 times; `from` inclusive, `to` exclusive
    limit=N        rows per page, 1..1000 (default 50)
    cursor=C       the `next_cursor` of the previous page

for the FILTERABLE_COLUMNS c (the attempt record's filterable fields). Behind the API a
missing `from` is filled in (a default window before `to` or now) and a wide from..to refused
before this parser runs: guardrails.py.
How repeats combine:

- several `is` values for one column: any of them (IN);
- several `is_not` values: none of them (NOT IN);
- several `contains` values: any of them (OR). Chosen to match `is` ("any of these"), so
  `url__contains=alpha&url__contains=beta` finds the URLs of either campaign; a row that must
  contain both is rare in a log search and can be had by narrowing twice;
- different operators, even on one column, and different columns: all must hold (AND).

`is` compares exactly (case-sensitive); an empty value is a real value for string columns
(`event_id=` lists the attempts that are not for an Event). `contains` needs a non-empty value,
since an empty substring would match every row. Every value reaches ClickHouse as a bound
parameter (`{f0:String}`), never as SQL text.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from postbacks.attempts import FIELDS
from query_api.logs.cursor import (
    MAX_MILLIS,
    MIN_MILLIS,
    CursorError,
    CursorPosition,
    after_condition,
    decode_cursor,
)

# Column -> ClickHouse type its `is`/`is_not` values are bound as, from the record's table.
FILTERABLE_COLUMNS: dict[str, str] = {f.name: f.filter_type for f in FIELDS if f.column.filterable}
# Numeric column -> the largest value it holds (the record's bound, which is its UInt type's).
NUMERIC_MAX: dict[str, int] = {
    f.name: f.le for f in FIELDS if f.column.filterable and f.python_type is int and f.le
}
# Columns a query is filtered on only by the server (a confined token's configurations,
# confinement.py), never from the query string.
CONFINING_COLUMNS: dict[str, str] = {"postback_id": "UUID"}
_OTHER_PARAMETERS = ("from", "to", "limit", "cursor")

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000

Operator = Literal["is", "is_not", "contains"]
_SUFFIXES: dict[str, Operator] = {"is_not": "is_not", "contains": "contains"}

# RFC 3339 date-time; the fraction is captured apart so that it converts exactly.
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?:\.(\d{1,12}))?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
# Twenty digits hold any UInt64; the bound also keeps int() away from huge strings.
_DIGITS = re.compile(r"[0-9]{1,20}", re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


# The name the routes catch, agreed with the API layer; it reads better than ...Error here.
class InvalidLogQuery(ValueError):
    """A query string the log cannot answer; the message names the parameter and the fix."""


@dataclass(frozen=True)
class ColumnFilter:
    """All values one operator was given for one column, in the order given."""

    column: str
    operator: Operator
    values: tuple[str | int, ...]


@dataclass(frozen=True)
class LogQuery:
    """One request for a page of the attempt log."""

    filters: tuple[ColumnFilter, ...] = ()
    # Unix milliseconds: from_ms inclusive, to_ms exclusive.
    from_ms: int | None = None
    to_ms: int | None = None
    limit: int = DEFAULT_LIMIT
    cursor: CursorPosition | None = None


def parse_log_query(pairs: Iterable[tuple[str, str]]) -> LogQuery:
    """Parse query-string pairs (repeats kept) into a LogQuery; InvalidLogQuery if bad."""
    grouped: dict[tuple[str, Operator], list[str | int]] = {}
    singles: dict[str, str] = {}
    for key, value in pairs:
        if key in _OTHER_PARAMETERS:
            if key in singles:
                raise InvalidLogQuery(f"'{key}' is given more than once; give it at most once")
            singles[key] = value
            continue
        column, operator = _split_key(key)
        parsed = _filter_value(key, column, operator, value)
        grouped.setdefault((column, operator), []).append(parsed)

    from_ms = parse_time("from", singles["from"]) if "from" in singles else None
    to_ms = parse_time("to", singles["to"]) if "to" in singles else None
    if from_ms is not None and to_ms is not None and from_ms >= to_ms:
        raise InvalidLogQuery(
            f"'from' ({singles['from']}) must be earlier than 'to' ({singles['to']})"
        )
    return LogQuery(
        filters=tuple(ColumnFilter(c, op, tuple(vs)) for (c, op), vs in grouped.items()),
        from_ms=from_ms,
        to_ms=to_ms,
        limit=_parse_limit(singles["limit"]) if "limit" in singles else DEFAULT_LIMIT,
        cursor=_parse_cursor(singles["cursor"]) if "cursor" in singles else None,
    )


def where_clause(query: LogQuery, prefix: str = "f") -> tuple[str, dict[str, str | int]]:
    """`WHERE ...` for `query` (empty when it selects every row) and the params it binds.

    Filter values bind as f0, f1, ... (`prefix` names them otherwise, so that several queries'
    filters can share one statement); the time bounds as from_ms and to_ms; the cursor as
    cursor_ms and cursor_id.
    """
    terms: list[str] = []
    params: dict[str, str | int] = {}

    def bind(value: str | int, type_: str) -> str:
        name = f"{prefix}{len(params)}"
        params[name] = value
        return f"{{{name}:{type_}}}"

    for f in query.filters:
        type_ = FILTERABLE_COLUMNS.get(f.column) or CONFINING_COLUMNS[f.column]
        if f.operator == "contains":
            # A number is searched in its decimal text, so offer_id__contains=12 finds 1203.
            text = f.column if type_ == "String" else f"toString({f.column})"
            tests = [_like_lowered(text, bind(v, "String")) for v in f.values]
            terms.append(tests[0] if len(tests) == 1 else "(" + " OR ".join(tests) + ")")
        else:
            negation = "NOT " if f.operator == "is_not" else ""
            listed = ", ".join(bind(v, type_) for v in f.values)
            terms.append(f"{f.column} {negation}IN ({listed})")
    if query.from_ms is not None:
        terms.append("attempted_at >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')")
        params["from_ms"] = query.from_ms
    if query.to_ms is not None:
        terms.append("attempted_at < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')")
        params["to_ms"] = query.to_ms
    if query.cursor is not None:
        sql, cursor_params = after_condition(query.cursor)
        terms.append(sql)
        params.update(cursor_params)
    return ("WHERE " + " AND ".join(terms) if terms else ""), params


def _like_lowered(column: str, value: str) -> str:
    # Case-insensitive substring test written as `lowerUTF8(col) LIKE '%v%'`, with %, _ and \
    # of the lower-cased value escaped so they match literally. ClickHouse folds the pattern to
    # a constant before it picks indexes, so this is the one form the text indexes of error and
    # server_response serve (4.7 ms against 10.5 ms on 2 million rows). On columns without an
    # index it is also the fastest scan: lower-casing then a plain search beats
    # positionCaseInsensitiveUTF8 (url contains on 10 million rows: 1.48 s against 1.87 s).
    pattern = rf"concat('%', replaceRegexpAll(lowerUTF8({value}), '([%_\\\\])', '\\\\\\1'), '%')"
    return f"lowerUTF8({column}) LIKE {pattern}"


def _split_key(key: str) -> tuple[str, Operator]:
    column, sep, suffix = key.partition("__")
    if column not in FILTERABLE_COLUMNS:
        raise InvalidLogQuery(_unknown_parameter(key, column))
    if not sep:
        return column, "is"
    if suffix not in _SUFFIXES:
        raise InvalidLogQuery(
            f"unknown operator '{suffix}' in '{key}'; use {column}=V (is), "
            f"{column}__is_not=V or {column}__contains=V"
        )
    return column, _SUFFIXES[suffix]


def _unknown_parameter(key: str, column: str) -> str:
    known = [*FILTERABLE_COLUMNS, *_OTHER_PARAMETERS]
    close = difflib.get_close_matches(column.lower(), known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return (
        f"unknown parameter '{key}'; {hint}filterable columns are: "
        f"{', '.join(FILTERABLE_COLUMNS)} (each also as c__is_not and c__contains); "
        f"other parameters are: {', '.join(_OTHER_PARAMETERS)}"
    )


def _filter_value(key: str, column: str, operator: Operator, value: str) -> str | int:
    if operator == "contains":
        if not value:
            raise InvalidLogQuery(
                f"'{key}' needs a non-empty value (an empty substring matches every row); "
                f"give text to search for, or leave '{key}' out"
            )
        return value
    type_ = FILTERABLE_COLUMNS[column]
    if type_ == "String":
        return value
    # Only plain ASCII digits: int() would also take " 5", "+5", "5_000" and other scripts' digits.
    limit = NUMERIC_MAX[column]
    if not _DIGITS.fullmatch(value) or int(value) > limit:
        raise InvalidLogQuery(
            f"'{key}' must be a whole number from 0 to {limit}, got {value!r}; "
            f"to search its digits as text use {column}__contains"
        )
    return int(value)


def parse_time(name: str, value: str) -> int:
    """Unix milliseconds for an RFC 3339 time, rounded up to the next whole millisecond.

    attempted_at has millisecond precision, so rounding up keeps `from` inclusive and `to`
    exclusive: `attempted_at >= 1.0005 s` holds exactly when `attempted_at >= 1.001 s`.
    """
    match = _RFC3339.fullmatch(value)
    seconds: datetime | None = None
    if match:
        whole, fraction, offset = match.groups()
        try:
            seconds = datetime.fromisoformat(f"{whole[:10]}T{whole[11:]}{offset.upper()}")
        except ValueError:
            seconds = None
    if match is None or seconds is None:
        # A '+' left unencoded in a URL reaches us as a space.
        plus = " (a '+' in a URL must be sent as %2B)" if re.search(r" \d\d:\d\d$", value) else ""
        raise InvalidLogQuery(
            f"'{name}' must be an RFC 3339 time such as 2026-11-28T01:02:03.456Z, "
            f"got {value!r}{plus}"
        )
    millis = (seconds - _EPOCH) // _ONE_MS
    if fraction:
        millis += -(-int(fraction) * 1000 // 10 ** len(fraction))  # integer ceil: exact
    if not MIN_MILLIS <= millis <= MAX_MILLIS:
        raise InvalidLogQuery(f"'{name}' must be between the years 1900 and 2299, got {value!r}")
    return millis


def _parse_limit(value: str) -> int:
    if not _DIGITS.fullmatch(value) or not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidLogQuery(
            f"'limit' must be a whole number from 1 to {MAX_LIMIT}, got {value!r}"
        )
    return int(value)


def _parse_cursor(value: str) -> CursorPosition:
    try:
        return decode_cursor(value)
    except CursorError as exc:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise InvalidLogQuery(
            f"'cursor' {shown!r} is invalid: {exc}; pass a next_cursor exactly as returned, "
            "or leave 'cursor' out for the first page"
        ) from exc
