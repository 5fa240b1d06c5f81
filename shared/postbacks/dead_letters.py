"""Dead letters: input that cannot be processed goes to `postbacks.dlq`, never stops a consumer."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson


def dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    reason: str,
    service: str,
) -> bytes:
    """The DLQ value: where the message came from, why it was refused, and its original bytes.

    The bytes are kept as base64 (they may not be UTF-8) and, when they are text, also as text
    so a person reading the topic sees them at once.
    """
    record: dict[str, Any] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "reason": reason,
        "service": service,
        "dead_lettered_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "key_base64": base64.b64encode(key).decode() if key is not None else None,
        "value_base64": base64.b64encode(value).decode() if value is not None else None,
        "value_text": _as_text(value),
    }
    return orjson.dumps(record)


def _as_text(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None
