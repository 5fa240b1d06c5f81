"""Kafka topic names and how each is created (design §1)."""

from __future__ import annotations

from dataclasses import dataclass, field

CLICKS = "clicks"
CONVERSIONS = "conversions"
EVENTS = "events"
ATTEMPTS = "postbacks.attempts"
CONFIGS = "postbacks.configs"
REFIRES = "postbacks.refires"
DLQ = "postbacks.dlq"

INPUT_TOPICS = (CLICKS, CONVERSIONS, EVENTS)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


# Configurations are a table keyed by postback id: compaction keeps the newest value per key,
# so a dispatcher that reads the topic from the beginning rebuilds the full set.
TOPICS = (
    TopicSpec(CLICKS, 6),
    TopicSpec(CONVERSIONS, 6),
    TopicSpec(EVENTS, 6),
    TopicSpec(ATTEMPTS, 6),
    TopicSpec(CONFIGS, 1, {"cleanup.policy": "compact"}),
    TopicSpec(REFIRES, 3),
    TopicSpec(DLQ, 1),
)
