"""The cheap check of attempt records: Kafka bytes in, bytes fit for ClickHouse out.

The log-writer does not decode and re-encode rows: at 200,000 rows/s that alone would take
more than a core. A record that passes this check is handed to `INSERT ... FORMAT JSONEachRow`
byte for byte; one that fails is dead-lettered with the reason. The check is derived from
design §6 (`postbacks.attempts.FIELDS`: each field's type and bounds, which are the table's
UInt16, UInt32, UInt64) and DateTime64's years, so what ClickHouse would refuse is caught here,
one record at a time, instead of failing a whole batch. Fields the table does not know are
ignored by both.

Text columns are bounded by postbacks.attempts.TEXT_LIMITS, to which the dispatcher clips them.
Whatever else goes wrong with one record is contained here: it becomes a dead letter and the
rest of its batch goes on.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from postbacks.attempts import FIELDS, AttemptField
from postbacks.containment import contained, record_name
from postbacks.dead_letters import KafkaRecord, dead_letter
from postbacks.inputs import lone_surrogate_reason

SERVICE = "log-writer"

# DateTime64(3) holds 1900-01-01 to 2299-12-31 (its last millisecond included).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
# msgspec takes no bound past int64, so problem_with checks the ones above it.
_INT64_MAX = 2**63 - 1


def _msgspec_type(field: AttemptField) -> Any:
    """The field's type and bounds as msgspec checks them; enums as the literals they are."""
    if field.choices:
        return Literal[field.choices]
    if field.max_length is not None:
        return Annotated[field.python_type, msgspec.Meta(max_length=field.max_length)]
    if field.ge is not None and field.le is not None and field.le <= _INT64_MAX:
        return Annotated[field.python_type, msgspec.Meta(ge=field.ge, le=field.le)]
    if field.ge is not None:
        return Annotated[field.python_type, msgspec.Meta(ge=field.ge)]
    return field.python_type


# Design §6 as the table stores it (postbacks.attempts.FIELDS); defaults are the columns'.
AttemptRow = msgspec.defstruct(
    "AttemptRow",
    [(f.name, _msgspec_type(f), msgspec.NODEFAULT if f.required else f.default) for f in FIELDS],
    kw_only=True,
)
# Above int64: the bounds msgspec cannot take.
_HUGE_BOUNDS = [(f.name, f.le) for f in FIELDS if f.le is not None and f.le > _INT64_MAX]
_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(AttemptRow)


@dataclass
class CheckedBatch:
    """The records of one batch that may be inserted, and the dead letters of the others."""

    values: list[bytes] = field(default_factory=list)
    attempt_ids: list[str] = field(default_factory=list)
    # Milliseconds since the epoch of each row's attempted_at, for the replay check's range.
    attempted_ms: list[int] = field(default_factory=list)
    sources: list[KafkaRecord] = field(default_factory=list)
    dead_letters: list[bytes] = field(default_factory=list)
    # Records whose attempt_id came earlier in the same batch (a producer retry): not inserted.
    repeated: int = 0

    def __len__(self) -> int:
        return len(self.values)


def problem_with(value: bytes | None) -> tuple[Any, str | None]:
    """The decoded row, or the reason the record cannot be stored."""
    if value is None:
        return None, "message has no value (tombstone)"
    if not value.isascii():  # the common case costs one fast scan, not a decode
        reason = _not_utf8(value)
        if reason:
            return None, f"invalid attempt record: {reason}"
    try:
        row = _decoder.decode(value)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        if not value.strip():  # msgspec would say "Input data was truncated"
            return None, "invalid attempt record: the message value is empty"
        return None, f"invalid attempt record: {lone_surrogate_reason(value) or exc}"
    except RecursionError:  # msgspec's own guard, so the process's stack is never at risk
        return None, "invalid attempt record: JSON nested too deeply"
    for name, bound in _HUGE_BOUNDS:
        if getattr(row, name) > bound:
            return None, f"invalid attempt record: {name} is more than UInt64 holds - at `$.{name}`"
    at = row.attempted_at if row.attempted_at.tzinfo else row.attempted_at.replace(tzinfo=UTC)
    if not EARLIEST <= at <= LATEST:
        return None, f"invalid attempt record: attempted_at {at.isoformat()} is not in 1900-2299"
    row.attempted_at = at
    return row, None


def _not_utf8(value: bytes) -> str | None:
    """Why `value` is not UTF-8, or None. msgspec checks the strings it decodes but skips the
    fields the table does not know, whose bytes would still reach ClickHouse (and, from there,
    every reader of the log)."""
    try:
        value.decode()
    except UnicodeDecodeError as exc:
        return f"the bytes are not UTF-8 ({exc.reason} at byte {exc.start})"
    return None


def check_batch(records: Sequence[KafkaRecord]) -> CheckedBatch:
    """Split a batch into rows to insert and dead letters; never raises for one record.

    An attempt_id seen twice in the batch (a producer retry) is kept once: the first.
    """
    batch = CheckedBatch()
    seen: set[uuid.UUID] = set()
    for record in records:
        try:
            _check_record(record, batch, seen)
        except Exception as exc:
            # What no rule foresaw: this record is dead-lettered, the rest of the batch goes on.
            where = record_name(record.topic, record.partition, record.offset)
            reason = contained(SERVICE, "check", where, exc)
            batch.dead_letters.append(dead_letter(record, reason=reason, service=SERVICE))
    return batch


def _check_record(record: KafkaRecord, batch: CheckedBatch, seen: set[uuid.UUID]) -> None:
    """Add one record to `batch`: as a row to insert, a repeat, or a dead letter."""
    value = record.value
    row, reason = problem_with(value)
    if row is None or value is None:
        batch.dead_letters.append(dead_letter(record, reason=str(reason), service=SERVICE))
        return
    if row.attempt_id in seen:
        batch.repeated += 1
        return
    # Everything computed before anything is added: the batch's lists stay aligned even if
    # one of these raises (check_batch then dead-letters the record).
    attempt_id = str(row.attempt_id)
    attempted_ms = int(row.attempted_at.timestamp() * 1000)
    seen.add(row.attempt_id)
    batch.values.append(value)
    batch.attempt_ids.append(attempt_id)
    batch.attempted_ms.append(attempted_ms)
    batch.sources.append(record)
