"""The log filters as OpenAPI parameter objects, for the routes that read the raw query string.

The log routes (and /api/v1/refires, /api/v1/stats) parse `request.query_params` themselves
(filters.py): keys are open-ended (`c`, `c__is_not`, `c__contains` for every column) and may
repeat. FastAPI cannot see those, so each route adds these objects with `openapi_extra`. They are
derived from FILTERABLE_COLUMNS: a new column documents itself.

Each schema says what the parser accepts and no more, so that a client generated from the
document sends only what the API takes: numbers as whole numbers within the column's type,
`contains` values non-empty, times as RFC 3339 within ClickHouse's DateTime64 years. What a
schema cannot say (`from` before `to`, the widest from..to, at most 200 parameters, a cursor
being one the server made) is in the descriptions, and refused with a 400 that says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from query_api.guardrails import QueryLimits
from query_api.logs.filters import DEFAULT_LIMIT, FILTERABLE_COLUMNS, MAX_LIMIT, NUMERIC_MAX

Parameter = dict[str, Any]

# Bounds the size of the SQL one request can build (each value is one bound parameter).
MAX_QUERY_PARAMETERS = 200

# filters.parse_time's syntax (RFC 3339, a fraction of at most 12 digits), in the years of
# ClickHouse's DateTime64 (1900-2299) that it accepts.
TIME_PATTERN = (
    r"^(19|2[0-2])[0-9]{2}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]{1,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
# What cursor.decode_cursor can decode: urlsafe base64, padded or not, at most 200 characters.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+={0,2}$"
_LIMITS = QueryLimits()
# The time window every log route and a re-fire selection have, as the defaults set it.
WINDOW = (
    f"Without `from`: {_LIMITS.default_window / timedelta(hours=1):g} hours before `to` or now "
    "(POSTBACKS_API_DEFAULT_WINDOW_HOURS). `from` to `to` (or now) may cover at most "
    f"{_LIMITS.max_span.days} days (POSTBACKS_API_MAX_SPAN_DAYS)"
)


def value_schema(column: str) -> dict[str, Any]:
    """The JSON Schema of one `c=V` or `c__is_not=V` value of `column`."""
    if column in NUMERIC_MAX:
        return {"type": "integer", "minimum": 0, "maximum": NUMERIC_MAX[column]}
    return {"type": "string"}


def filter_parameters(columns: Iterable[str] = FILTERABLE_COLUMNS) -> list[Parameter]:
    """`c`, `c__is_not` and `c__contains` for each column, each repeatable."""
    parameters = []
    for column in columns:
        type_ = FILTERABLE_COLUMNS[column]
        number = "" if type_ == "String" else f" ({type_})"
        searched = "text" if type_ == "String" else "decimal digits"
        parameters += [
            _repeated(column, value_schema(column), f"{column} is one of these{number}"),
            _repeated(
                f"{column}__is_not", value_schema(column), f"{column} is none of these{number}"
            ),
            _repeated(
                f"{column}__contains",
                {"type": "string", "minLength": 1},
                f"{column}'s {searched} contain one of these, ignoring case",
            ),
        ]
    return parameters


def time_parameters(what: str = "") -> list[Parameter]:
    """`from` (inclusive) and `to` (exclusive), RFC 3339."""
    schema = {"type": "string", "format": "date-time", "pattern": TIME_PATTERN}
    return [
        _single(
            "from",
            schema,
            "Attempts at or after this time (RFC 3339; a '+' must be sent as %2B). Must be "
            f"before `to`{what}",
        ),
        _single("to", schema, "Attempts before this time (RFC 3339)"),
    ]


def log_parameters(*, paging: bool, window: str) -> list[Parameter]:
    """Every parameter of a log query: the filters, `from`/`to`, and with `paging` the page's."""
    parameters = [*filter_parameters(), *time_parameters(window)]
    if paging:
        parameters += [
            _single(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                "Attempts per page",
            ),
            _single(
                "cursor",
                {"type": "string", "minLength": 1, "maxLength": 200, "pattern": CURSOR_PATTERN},
                "The `next_cursor` of the previous page, exactly as returned",
            ),
        ]
    return parameters


def flag_parameter(name: str, description: str) -> Parameter:
    """A true/false switch (`_flag` also takes 1/0 and yes/no)."""
    return _single(name, {"type": "boolean", "default": False}, description)


def choice_parameter(
    name: str, choices: Iterable[str], default: str, description: str
) -> Parameter:
    """One of `choices`, `default` when left out."""
    return _single(name, {"type": "string", "enum": list(choices), "default": default}, description)


def _repeated(name: str, items: dict[str, Any], description: str) -> Parameter:
    array = _single(name, {"type": "array", "items": items}, description)
    return {**array, "style": "form", "explode": True}


def _single(name: str, schema: dict[str, Any], description: str) -> Parameter:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }
