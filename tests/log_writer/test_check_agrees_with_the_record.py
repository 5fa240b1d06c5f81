"""The log-writer's check is derived from the attempt record's table: for every field, a value
just inside and just outside each bound, an unknown enum value and a missing required field
are accepted or refused by the check exactly as by AttemptRecord itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from log_writer.validation import problem_with
from postbacks.attempts import FIELDS, AttemptField, AttemptRecord
from tests.attempts import attempt_record
from tests.log_writer.records import with_fields


def _variants(field: AttemptField) -> Iterator[object]:
    """Values of `field` on both sides of each of its bounds, and `...` for leaving it out."""
    if field.max_length is not None:
        yield "x" * field.max_length
        yield "x" * (field.max_length + 1)
    if field.ge is not None:
        yield field.ge
        yield field.ge - 1
    if field.le is not None:
        yield field.le
        yield field.le + 1
    if field.choices:
        yield field.choices[-1]
        yield field.choices[-1].lower() + "-not-a-choice"
    yield ...


CASES = [(field.name, value) for field in FIELDS for value in _variants(field)]


@pytest.mark.parametrize(("name", "value"), CASES, ids=[f"{n}={v!r:.12}" for n, v in CASES])
def test_the_check_refuses_what_the_record_refuses(name: str, value: object) -> None:
    value_bytes = with_fields(attempt_record(1), **{name: value})
    try:
        AttemptRecord.model_validate_json(value_bytes)
        record_accepts = True
    except ValidationError:
        record_accepts = False
    row, reason = problem_with(value_bytes)
    assert (row is not None) == record_accepts, reason
