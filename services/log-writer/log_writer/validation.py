"""The cheap check of attempt records: Kafka bytes in, bytes fit for ClickHouse out.

The log-writer does not decode and re-encode rows: at 200,000 rows/s that alone would take
more than a core. A record that passes this check is handed to `INSERT ... FORMAT JSONEachRow`
byte for byte; one that fails is dead-lettered with the reason. The check mirrors design §6
(`postbacks.attempts.AttemptRecord`) and the table's bounds (UInt16, UInt32, UInt64,
DateTime64's years), so what ClickHouse would refuse is caught here, one record at a time,
instead of failing a whole batch. Fields the table does not know are ignored by both.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec

from postbacks.dead_letters import KafkaRecord, dead_letter
from postbacks.inputs import lone_surrogate_reason

UInt8 = Annotated[int, msgspec.Meta(ge=0, le=2**8 - 1)]
UInt16 = Annotated[int, msgspec.Meta(ge=0, le=2**16 - 1)]
UInt32 = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]
# msgspec takes no bound past int64 (`le=2**64 - 1`), so problem_with checks the upper one.
UInt64 = Annotated[int, msgspec.Meta(ge=0)]
UINT64_MAX = 2**64 - 1
# DateTime64(3) holds 1900-01-01 to 2299-12-31.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, 23, 59, 59, tzinfo=UTC)


class AttemptRow(msgspec.Struct):
    """Design §6 as the table stores it; defaults are the table's column DEFAULTs."""

    attempt_id: uuid.UUID
    attempted_at: datetime
    status: Literal["Success", "Failed"]
    postback_id: uuid.UUID
    postback_name: str
    postback_type: Literal["Click", "Conversion", "Event"]
    offer_id: UInt64
    publisher_id: UInt64
    transaction_id: str
    response_code: UInt16
    url: str
    latency_ms: UInt32
    source: str
    event_id: str = ""
    method: Literal["GET", "POST"] = "GET"
    error: str = ""
    server_response: str = ""
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
    try:
        row = _decoder.decode(value)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        return None, f"invalid attempt record: {lone_surrogate_reason(value) or exc}"
    for name in ("offer_id", "publisher_id"):
        if getattr(row, name) > UINT64_MAX:
            return None, f"invalid attempt record: {name} is more than UInt64 holds - at `$.{name}`"
    at = row.attempted_at if row.attempted_at.tzinfo else row.attempted_at.replace(tzinfo=UTC)
    if not EARLIEST <= at <= LATEST:
        return None, f"invalid attempt record: attempted_at {at.isoformat()} is not in 1900-2299"
    row.attempted_at = at
    return row, None


def check_batch(records: Sequence[KafkaRecord]) -> CheckedBatch:
    """Split a batch into rows to insert and dead letters.

    An attempt_id seen twice in the batch (a producer retry) is kept once: the first.
    """
    batch = CheckedBatch()
    seen: set[uuid.UUID] = set()
    for record in records:
        row, reason = problem_with(record.value)
        if row is None or record.value is None:
            batch.dead_letters.append(dead_letter(record, reason=str(reason), service="log-writer"))
            continue
        if row.attempt_id in seen:
            batch.repeated += 1
            continue
        seen.add(row.attempt_id)
        batch.values.append(record.value)
        batch.attempt_ids.append(str(row.attempt_id))
        batch.attempted_ms.append(int(row.attempted_at.timestamp() * 1000))
        batch.sources.append(record)
    return batch
