"""The cheap check of attempt records: Kafka bytes in, bytes fit for ClickHouse out.

The log-writer does not decode and re-encode rows: at 200,000 rows/s that alone would take
more than a core. A record that passes this check is handed to `INSERT ... FORMAT JSONEachRow`
byte for byte; one that fails is dead-lettered with the reason. The check mirrors design §6
(`postbacks.attempts.AttemptRecord`) and the table's bounds (UInt16, UInt32, UInt64,
DateTime64's years), so what ClickHouse would refuse is caught here, one record at a time,
instead of failing a whole batch. Fields the table does not know are ignored by both.

Text columns are bounded by postbacks.attempts.TEXT_LIMITS, to which the dispatcher clips them.
Whatever else goes wrong with one record is contained here: it becomes a dead letter and the
rest of its batch goes on.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec

from postbacks.attempts import TEXT_LIMITS, UINT64_MAX
from postbacks.containment import contained, record_name
from postbacks.dead_letters import KafkaRecord, dead_letter
from postbacks.inputs import lone_surrogate_reason

SERVICE = "log-writer"

UInt8 = Annotated[int, msgspec.Meta(ge=0, le=2**8 - 1)]
UInt16 = Annotated[int, msgspec.Meta(ge=0, le=2**16 - 1)]
UInt32 = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]
# msgspec takes no bound past int64 (`le=2**64 - 1`), so problem_with checks the upper one.
UInt64 = Annotated[int, msgspec.Meta(ge=0)]
# DateTime64(3) holds 1900-01-01 to 2299-12-31 (its last millisecond included).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)


def _text(name: str) -> msgspec.Meta:
    """The bound of one text column; msgspec counts characters, as TEXT_LIMITS does."""
    return msgspec.Meta(max_length=TEXT_LIMITS[name])


class AttemptRow(msgspec.Struct):
    """Design §6 as the table stores it; defaults are the table's column DEFAULTs."""

    attempt_id: uuid.UUID
    attempted_at: datetime
    status: Literal["Success", "Failed"]
    postback_id: uuid.UUID
    postback_name: Annotated[str, _text("postback_name")]
    postback_type: Literal["Click", "Conversion", "Event"]
    offer_id: UInt64
    publisher_id: UInt64
    transaction_id: Annotated[str, _text("transaction_id")]
    response_code: UInt16
    url: Annotated[str, _text("url")]
    latency_ms: UInt32
    source: Annotated[str, _text("source")]
    event_id: Annotated[str, _text("event_id")] = ""
    method: Literal["GET", "POST"] = "GET"
    error: Annotated[str, _text("error")] = ""
    server_response: Annotated[str, _text("server_response")] = ""
    trigger: Literal["auto", "refire", "test"] = "auto"
    refire_of: uuid.UUID | None = None
    attempt_number: UInt8 = 1


_decoder = msgspec.json.Decoder(AttemptRow)


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


def problem_with(value: bytes | None) -> tuple[AttemptRow | None, str | None]:
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
    for name in ("offer_id", "publisher_id"):
        if getattr(row, name) > UINT64_MAX:
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
