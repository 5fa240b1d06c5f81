"""Attempt records as the dispatcher publishes them, and consumed-record stand-ins."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
