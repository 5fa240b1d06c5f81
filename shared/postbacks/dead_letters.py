"""Dead letters: input that cannot be processed goes to `postbacks.dlq`, never stops a consumer."""

from __future__ import annotations

import base64
from typing import Any, Protocol

import orjson
from prometheus_client import Counter

from postbacks.clock import now_ms

DEAD_LETTERS = Counter(
    "postbacks_dead_letters_total",
    "Messages refused to the dead-letter topic",
    ["service", "topic"],
)


class KafkaRecord(Protocol):
    """The parts of a consumed Kafka record the services read (aiokafka's ConsumerRecord)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


def dead_letter(record: KafkaRecord, *, reason: str, service: str) -> bytes:
    """The DLQ value: where the message came from, why it was refused, and its original bytes.

    The bytes are kept as base64 (they may not be UTF-8) and, when they are text, also as text
    so a person reading the topic sees them at once.
    """
    DEAD_LETTERS.labels(service, record.topic).inc()
    letter: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "reason": reason,
        "service": service,
        "dead_lettered_at": now_ms().isoformat(timespec="milliseconds"),
        "key_base64": _base64(record.key),
        "value_base64": _base64(record.value),
        "value_text": _as_text(record.value),
    }
    return orjson.dumps(letter)


def _base64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode() if data is not None else None


def _as_text(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None
