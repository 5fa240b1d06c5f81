"""The attempt record: one per postback attempt (design §6)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

UINT64_MAX = 2**64 - 1  # offer_id and publisher_id are UInt64 columns
SERVER_RESPONSE_LIMIT = 4096  # bytes of the answer's body kept (then marked as cut)
TRUNCATION_MARK = "…[truncated]"
# The most characters a rendered URL may have: a longer one is not sent (most servers refuse
# past 8 KiB) and fails with an error that says so.
URL_LIMIT = 16_384
# The most characters each text column of an attempt holds. The dispatcher clips what it writes
# to these (marked as cut; `source` needs no clip: the input's own bounds keep it under its
# limit), and the log-writer refuses a record past them. A record the dispatcher writes is so at
# most about 500 KB (source's 150,000 characters, the rest clipped), under the broker's 1 MB
# default; a broker set lower is met by outputs.py, which publishes a refused one slimmed down.
TEXT_LIMITS: dict[str, int] = {
    "postback_name": 200,  # configs.py's bound on a configuration's name
    "event_id": 256,  # inputs.py's bound on ids
    "transaction_id": 256,
    "url": URL_LIMIT,
    "error": 2048,
    "server_response": SERVER_RESPONSE_LIMIT + len(TRUNCATION_MARK),
    # The input as JSON: its fields are bounded by inputs.py (23 texts of 1,024 characters, two
    # ids of 256, amounts of at most 40 digits), and escaping at most sextuples a character.
    "source": 150_000,
}


def clipped(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the cut marked, when it is longer."""
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_MARK)] + TRUNCATION_MARK


class AttemptStatus(StrEnum):
    SUCCESS = "Success"
    FAILED = "Failed"


class PostbackType(StrEnum):
    CLICK = "Click"
    CONVERSION = "Conversion"
    EVENT = "Event"


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"


class Trigger(StrEnum):
    AUTO = "auto"
    REFIRE = "refire"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class Column:
    """How one field of the attempt record is stored and shown, besides its Python type and
    bounds (the annotation it is attached to)."""

    # The column's type in postback_attempts with its codec and DEFAULT, as in the DDL.
    clickhouse: str
    # Its COMMENT in ClickHouse, and its description in the API.
    comment: str
    # Its heading on the Logs page and in the CSV export; empty: not shown there.
    label: str = ""
    # Whether the log API filters it (c, c__is_not, c__contains) and the Logs page offers it.
    filterable: bool = False
    # Whether pages of the log carry it (`source` is only in one attempt's detail).
    listed: bool = True
    # Values the Logs page suggests for a filter (an enum's values are suggested anyway).
    suggestions: tuple[str, ...] = ()


def _text(name: str) -> FieldInfo:
    bound: FieldInfo = Field(max_length=TEXT_LIMITS[name])
    return bound


_UINT64 = Field(ge=0, le=UINT64_MAX)
_CODEC = "CODEC(ZSTD(1))"
_INT_CODEC = "CODEC(T64, ZSTD(1))"


def _describe_fields(schema: dict[str, Any]) -> None:
    """Each field's description in the JSON schema (the AsyncAPI document) is its comment."""
    for field in FIELDS:
        schema["properties"][field.name]["description"] = field.column.comment


# The attempt record (design §6): the table of its fields, declared once. Each field's
# annotation is its Python type and bounds; its Column says how ClickHouse stores it and how
# the log shows it. Everything else is derived from here: FIELDS below, the dispatcher's encoder
# (dispatcher/attempt_fields.py, generated), the log-writer's check, the API's item model and
# filters, the CSV headings, the Logs page's columns (columns.js, generated) and the column list
# of deploy/clickhouse/001_postback_attempts.sql (generated). docs/design.md §6 says how to
# add a field.
class AttemptRecord(BaseModel):
    """One postback attempt: a record on postbacks.attempts, a row of postback_attempts."""

    model_config = ConfigDict(frozen=True, json_schema_extra=_describe_fields)

    attempt_id: Annotated[
        UUID,
        Column(
            "UUID",
            "Unique per attempt; sent to the publisher in the X-Postback-Attempt-Id header",
            label="Attempt ID",
        ),
    ]
    attempted_at: Annotated[
        datetime,
        Column(
            "DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1))",
            "When the request started (UTC, milliseconds)",
            label="Time",
        ),
    ]
    status: Annotated[
        AttemptStatus,
        Column(
            "LowCardinality(String)",
            "Success (a 2xx answer) or Failed (anything else)",
            label="Status",
            filterable=True,
        ),
    ]
    postback_id: Annotated[UUID, Column("UUID", "Configuration that fired (postback_configs.id)")]
    postback_name: Annotated[
        str,
        _text("postback_name"),
        Column(
            "LowCardinality(String)",
            "Configuration name at the time it fired",
            label="Postback Name",
            filterable=True,
        ),
    ]
    postback_type: Annotated[
        PostbackType,
        Column(
            "LowCardinality(String)",
            "Click, Conversion or Event: the input topic that fired it",
            label="Postback Type",
            filterable=True,
        ),
    ]
    offer_id: Annotated[
        int,
        _UINT64,
        Column(
            f"UInt64 {_INT_CODEC}",
            "Offer of the input message",
            label="Offer ID",
            filterable=True,
        ),
    ]
    publisher_id: Annotated[
        int,
        _UINT64,
        Column(
            f"UInt64 {_INT_CODEC}",
            "Publisher of the input message, the one whose server was called",
            label="Publisher ID",
            filterable=True,
        ),
    ]
    event_id: Annotated[
        str,
        _text("event_id"),
        Column(
            f"String {_CODEC}",
            "Event ID of an Event input; empty for clicks and conversions",
            label="Event ID",
            filterable=True,
        ),
    ] = ""
    transaction_id: Annotated[
        str,
        _text("transaction_id"),
        Column(
            f"String {_CODEC}",
            "The network's click or conversion ID from the input message",
            label="Transaction ID",
            filterable=True,
        ),
    ]
    response_code: Annotated[
        int,
        Field(ge=0, le=2**16 - 1),
        Column(
            f"UInt16 {_INT_CODEC}",
            "HTTP status; 0 = no HTTP response (timeout, refused, DNS, TLS, guard: see error)",
            label="Response Code",
            filterable=True,
            suggestions=("0", "200", "302", "400", "404", "500", "502", "503"),
        ),
    ]
    url: Annotated[
        str,
        _text("url"),
        Column(
            f"String {_CODEC}", "The full URL called, macros filled", label="URL", filterable=True
        ),
    ]
    method: Annotated[HttpMethod, Column("LowCardinality(String) DEFAULT 'GET'", "GET or POST")] = (
        HttpMethod.GET
    )
    error: Annotated[
        str,
        _text("error"),
        Column(
            f"String {_CODEC}",
            "Plain-words reason for a failure; empty on success",
            label="Error",
            filterable=True,
        ),
    ] = ""
    server_response: Annotated[
        str,
        _text("server_response"),
        Column(
            "String CODEC(ZSTD(3))",
            f"First 4 KiB of the response body, marked {TRUNCATION_MARK} when cut",
            label="Server Response",
            filterable=True,
        ),
    ] = ""
    latency_ms: Annotated[
        int,
        Field(ge=0, le=2**32 - 1),
        Column(
            f"UInt32 {_INT_CODEC}", "Milliseconds from request start to the end of the body read"
        ),
    ]
    trigger: Annotated[
        Trigger,
        Column(
            "LowCardinality(String) DEFAULT 'auto'",
            "auto (an input fired it), refire (an explicit re-send) or test (a test fire)",
        ),
    ] = Trigger.AUTO
    refire_of: Annotated[
        UUID | None,
        Column("Nullable(UUID)", "For a refire: the attempt it repeats; NULL otherwise"),
    ] = None
    attempt_number: Annotated[
        int,
        Field(ge=1, le=2**8 - 1),
        Column(
            "UInt8 DEFAULT 1",
            "1 for the first attempt of a postback; 2, 3, ... for the retries of its "
            "configuration's retry policy",
        ),
    ] = 1
    source: Annotated[
        str,
        _text("source"),
        Column(
            "String CODEC(ZSTD(3))",
            "The input message as JSON, so a re-fire can render the postback again",
            listed=False,
        ),
    ]


@dataclass(frozen=True, slots=True)
class AttemptField:
    """One row of the table, as the derived definitions read it."""

    name: str
    python_type: Any  # the annotation without its bounds: int, str, UUID, an enum, UUID | None
    column: Column
    default: Any  # PydanticUndefined when the field is required
    max_length: int | None
    ge: int | None
    le: int | None

    @property
    def required(self) -> bool:
        return self.default is PydanticUndefined

    @property
    def choices(self) -> tuple[str, ...]:
        """The values of an enum field, in order; empty for the others."""
        if isinstance(self.python_type, type) and issubclass(self.python_type, StrEnum):
            return tuple(member.value for member in self.python_type)
        return ()

    @property
    def filter_type(self) -> str:
        """The ClickHouse type filter values are bound as: String, UInt16, UInt64..."""
        match = re.match(r"(?:LowCardinality\()?(\w+)", self.column.clickhouse)
        return match.group(1) if match else self.column.clickhouse


_KNOWN_METADATA = {"Column", "MaxLen", "Ge", "Le"}


def _fields() -> tuple[AttemptField, ...]:
    fields = []
    for name, info in AttemptRecord.model_fields.items():
        columns = [m for m in info.metadata if isinstance(m, Column)]
        if len(columns) != 1:
            raise TypeError(f"AttemptRecord.{name} needs exactly one Column")
        # The derived checks (the log-writer's, the API's) know these bounds and no others.
        unknown = [m for m in info.metadata if type(m).__name__ not in _KNOWN_METADATA]
        if unknown:
            raise TypeError(f"AttemptRecord.{name}: derive {unknown} in FIELDS first")
        fields.append(
            AttemptField(
                name=name,
                python_type=info.annotation,
                column=columns[0],
                default=info.default,
                max_length=_bound(info, "max_length"),
                ge=_bound(info, "ge"),
                le=_bound(info, "le"),
            )
        )
    return tuple(fields)


def _bound(info: FieldInfo, name: str) -> int | None:
    """A bound pydantic keeps in the field's metadata (annotated_types' MaxLen, Ge, Le)."""
    for item in info.metadata:
        value = getattr(item, name, None)
        if isinstance(value, int):
            return value
    return None


# The attempt record's fields in order: the JSON's order and the table's column order.
FIELDS = _fields()
