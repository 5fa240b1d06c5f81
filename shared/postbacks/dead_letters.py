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


# Bytes of the original key and value a dead letter keeps: the letter holds them twice (base64
# and text), so a record near the broker's size limit would make a letter past it. The rest can
# be read at the original topic, partition and offset while the topic keeps it.
KEPT_BYTES = 65_536
REASON_LIMIT = 4096


def dead_letter(record: KafkaRecord, *, reason: str, service: str) -> bytes:
    """The DLQ value: where the message came from, why it was refused, and its original bytes
    (the first KEPT_BYTES of them; `value_bytes` says how many there were).

    The bytes are kept as base64 (they may not be UTF-8) and, when they are text, also as text
    so a person reading the topic sees them at once.
    """
    DEAD_LETTERS.labels(service, record.topic).inc()
    key, value = record.key, record.value
    letter: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "reason": reason[:REASON_LIMIT],
        "service": service,
        "dead_lettered_at": now_ms().isoformat(timespec="milliseconds"),
        "key_base64": _base64(key[:KEPT_BYTES] if key is not None else None),
        "value_base64": _base64(value[:KEPT_BYTES] if value is not None else None),
        "value_text": _as_text(value[:KEPT_BYTES] if value is not None else None),
        "value_bytes": len(value) if value is not None else None,
        "value_truncated": value is not None and len(value) > KEPT_BYTES,
    }
    return orjson.dumps(letter)


def _base64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode() if data is not None else None


def _as_text(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A value cut inside a character is still text up to the cut.
        if exc.start >= len(value) - 3 and exc.reason == "unexpected end of data":
            return value[: exc.start].decode("utf-8")
        return None
