"""Create the topics of design §1 where they are missing."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from postbacks.kafka_connection import KafkaConnection
from postbacks.topics import TOPICS, TopicSpec


async def ensure_topics(kafka: KafkaConnection, specs: Iterable[TopicSpec] = TOPICS) -> list[str]:
    """Create missing topics; returns the names created. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(**kafka.aiokafka())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            # replication_factor 1 fits the embedded broker; production topics are created by
            # the compose file's init job with the cluster's own replication.
            await admin.create_topics(
                [NewTopic(s.name, s.partitions, 1, topic_configs=dict(s.config)) for s in missing]
            )
        return [s.name for s in missing]
    finally:
        await admin.close()
