"""The dispatcher's in-memory copy of the postback configurations, and matching (design §4)."""

from __future__ import annotations

import logging
from uuid import UUID

from pydantic import ValidationError

from postbacks import topics
from postbacks.attempts import PostbackType
from postbacks.configs import PostbackConfig
from postbacks.inputs import ClickInput, ConversionInput, EventInput

log = logging.getLogger(__name__)

TOPIC_TYPES = {
    topics.CLICKS: PostbackType.CLICK,
    topics.CONVERSIONS: PostbackType.CONVERSION,
    topics.EVENTS: PostbackType.EVENT,
}


class ConfigTable:
    """Configurations by id, as last published on `postbacks.configs`."""

    def __init__(self) -> None:
        self._configs: dict[UUID, PostbackConfig] = {}

    def __len__(self) -> int:
        return len(self._configs)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one record of the compacted topic: a config, or a tombstone (value None)."""
        if key is None:
            log.warning("ignoring a configuration record without a key")
            return
        try:
            config_id = UUID(key.decode())
        except (UnicodeDecodeError, ValueError):
            log.warning("ignoring a configuration record with key %r: not a postback id", key)
            return
        if value is None:
            self._configs.pop(config_id, None)
            return
        try:
            config = PostbackConfig.model_validate_json(value)
        except ValidationError as exc:
            log.error("ignoring an invalid configuration %s: %s", config_id, exc)
            return
        current = self._configs.get(config_id)
        # The topic is ordered per key, so versions only go up; the check guards against a
        # producer that published an older copy again (e.g. a republish racing an update).
        if current is None or config.version >= current.version:
            self._configs[config_id] = config

    def matching(self, topic: str, message: ClickInput) -> list[PostbackConfig]:
        """Every enabled configuration that fires once for this input."""
        kind = TOPIC_TYPES[topic]
        return [c for c in self._configs.values() if c.enabled and _matches(c, kind, message)]


def _matches(config: PostbackConfig, kind: PostbackType, message: ClickInput) -> bool:
    if config.type is not kind:
        return False
    if config.offer_id is not None and config.offer_id != message.offer_id:
        return False
    if config.publisher_id is not None and config.publisher_id != message.publisher_id:
        return False
    if (
        isinstance(message, EventInput)
        and config.event_id is not None
        and config.event_id != message.event_id
    ):
        return False
    if isinstance(message, ConversionInput):
        return message.status in config.statuses
    return True
