"""How the services build their FastStream brokers: one logging policy, raw bytes in."""

from __future__ import annotations

import logging
from typing import Any

from faststream.kafka import KafkaBroker, KafkaMessage

from postbacks.topics import KAFKA_LOGGER


def faststream_broker(bootstrap: str, client_id: str) -> KafkaBroker:
    # Per-message logging at INFO would write a line per conversion; keep it at DEBUG, through
    # the services' own logger so format and level are theirs.
    return KafkaBroker(
        bootstrap,
        log_level=logging.DEBUG,
        logger=logging.getLogger(KAFKA_LOGGER),
        client_id=client_id,
    )


async def raw_body(message: KafkaMessage) -> Any:
    """A decoder that leaves the bytes alone: the services validate with pydantic themselves,
    so malformed bytes reach them intact and can be dead-lettered with their reason."""
    return message.body
