"""The shapes of the log routes' answers, for the OpenAPI document and for fast encoding.

With a response model FastAPI validates and encodes the answer in pydantic-core (Rust) in one
step; a plain dict goes through jsonable_encoder and json.dumps, which took 1.5 ms for a page
of 50 attempts, half of what the API added to a direct read of the store.

LogItem and LogRecord are derived from the attempt record's table (postbacks.attempts.FIELDS):
numbers stay numbers, everything else is the text the reader formats (UUIDs, RFC 3339 UTC
times with milliseconds, enum values); each field's description is its column's comment.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, create_model

from postbacks.attempts import FIELDS, AttemptField


def _api_field(field: AttemptField) -> Any:
    nullable = not field.required and field.default is None
    api_type: Any = int if field.python_type is int else str
    return (api_type | None if nullable else api_type, Field(description=field.column.comment))


# One attempt as the log lists it (design §6), without the fields only its detail carries.
LogItem: type[BaseModel] = create_model(
    "LogItem", **{f.name: _api_field(f) for f in FIELDS if f.column.listed}
)
# One attempt in full: the list's fields and the input message that fired it.
LogRecord: type[BaseModel] = create_model(
    "LogRecord", __base__=LogItem, **{f.name: _api_field(f) for f in FIELDS if not f.column.listed}
)


class LogPage(BaseModel):
    items: list[LogItem]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class LogCount(BaseModel):
    count: int
