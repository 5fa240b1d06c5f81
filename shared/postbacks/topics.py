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


DAY_MS = 86_400_000


def _kept(days: int) -> dict[str, str]:
    # compression.type=producer: the broker stores each batch as its producer compressed it
    # (ours write lz4: bench/README.md, `compression`) and never recompresses one.
    return {"retention.ms": str(days * DAY_MS), "compression.type": "producer"}


# Retention is replay room, not the log (that is ClickHouse), and what the capacity plan sizes
# the brokers' disks by (docs/production.md): 7 days of inputs; 3 days of attempts, how long the
# log-writer or ClickHouse may be down (a weekend) before attempts not yet logged are deleted
# (their alerts fire within half an hour: deploy/prometheus/alerts.yml); dead letters 30 days,
# for someone to read why and replay them. deploy/kafka/create-topics.sh creates the same on
# Apache Kafka, with production's partition counts (tests/test_deploy_files.py compares them).
# Configurations are a table keyed by postback id: compaction keeps the newest value per key,
# so a dispatcher that reads the topic from the beginning rebuilds the full set.
TOPICS = (
    TopicSpec(CLICKS, 6, _kept(7)),
    TopicSpec(CONVERSIONS, 6, _kept(7)),
    TopicSpec(EVENTS, 6, _kept(7)),
    TopicSpec(ATTEMPTS, 6, _kept(3)),
    TopicSpec(CONFIGS, 1, {"cleanup.policy": "compact", "compression.type": "producer"}),
    TopicSpec(REFIRES, 3, _kept(7)),
    TopicSpec(DLQ, 1, _kept(30)),
)
