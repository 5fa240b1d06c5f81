"""Attempt records as the log-writer consumes them: encodings no encoder writes, and
consumed-record stand-ins. The records themselves come from tests/attempts.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from postbacks.attempts import AttemptRecord
from tests.attempts import encoded


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
