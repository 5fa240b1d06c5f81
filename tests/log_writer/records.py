"""Attempt records as the dispatcher publishes them, and consumed-record stand-ins."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from postbacks.attempts import AttemptRecord

T0 = datetime.now(UTC).replace(microsecond=0)


def attempt(n: int, **fields: object) -> AttemptRecord:
    values: dict[str, object] = {
        "attempt_id": uuid.uuid4(),
        "attempted_at": T0 + timedelta(milliseconds=n),
        "status": "Success" if n % 4 else "Failed",
        "postback_id": uuid.UUID(int=n % 3 + 1),
        "postback_name": f"pb-{n % 3}",
        "postback_type": "Conversion",
        "offer_id": 7,
        "publisher_id": 40 + n % 5,
        "transaction_id": f"tx-{n}",
        "response_code": 200 if n % 4 else 503,
        "url": f"http://127.0.0.1/pb?tx=tx-{n}",
        "latency_ms": n % 100,
        "source": f'{{"transaction_id": "tx-{n}"}}',
    }
    values.update(fields)
    return AttemptRecord.model_validate(values)


def encoded(record: AttemptRecord) -> bytes:
    return record.model_dump_json().encode()


def with_fields(record: AttemptRecord, **changes: object) -> bytes:
    """The record's JSON with fields changed, or left out (`...`)."""
    data = orjson.loads(encoded(record))
    for name, value in changes.items():
        if value is ...:
            del data[name]
        else:
            data[name] = value
    return json.dumps(data).encode()  # the stdlib writes integers past 64 bits; orjson does not


_RAW = "@raw-placeholder@"


def with_raw(record: AttemptRecord, name: str, raw: bytes) -> bytes:
    """The record's JSON with the value of field `name` written as `raw`, byte for byte: what
    no encoder writes (invalid UTF-8, raw control bytes, numbers past every integer type)."""
    data = orjson.loads(encoded(record))
    data[name] = _RAW
    return orjson.dumps(data).replace(f'"{_RAW}"'.encode(), raw)


def with_member(record: AttemptRecord, member: bytes) -> bytes:
    """The record's JSON with one more member (`"name": value`, as raw bytes) at its end."""
    return encoded(record)[:-1] + b", " + member + b"}"


@dataclass(frozen=True)
class Consumed:
    """A consumed Kafka record (postbacks.dead_letters.KafkaRecord) without a broker."""

    value: bytes | None
    offset: int = 0
    topic: str = "postbacks.attempts"
    partition: int = 0
    key: bytes | None = None


def consumed(values: Sequence[bytes | None]) -> list[Consumed]:
    return [Consumed(value, offset=i) for i, value in enumerate(values)]
