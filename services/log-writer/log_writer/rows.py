"""Attempt records from Kafka to table rows. No Kafka and no ClickHouse here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from postbacks.attempts import AttemptRecord
from postbacks.dead_letters import KafkaRecord, dead_letter


@dataclass
class DecodedBatch:
    rows: list[bytes] = field(default_factory=list)
    dead_letters: list[bytes] = field(default_factory=list)


def decode_batch(messages: Sequence[KafkaRecord]) -> DecodedBatch:
    """Validate every record; a record that does not fit §6 is dead-lettered, never inserted.

    Rows are re-encoded from the validated model, so what reaches ClickHouse is exactly the
    contract's shape whatever extra fields a producer added.
    """
    batch = DecodedBatch()
    for message in messages:
        try:
            if message.value is None:
                raise ValueError("message has no value (tombstone)")
            record = AttemptRecord.model_validate_json(message.value)
        except (ValidationError, ValueError) as exc:
            reason = f"invalid attempt record: {exc}"
            batch.dead_letters.append(dead_letter(message, reason=reason, service="log-writer"))
            continue
        batch.rows.append(record.model_dump_json().encode())
    return batch
