"""Configurations stored straight into `postback_configs`, as the API stores them: for tests of
confined tokens, which see only the attempts of their publishers' configurations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from postbacks.configs import PostbackConfig, PostbackConfigIn
from postbacks.store.protocol import Store
from query_api.config_repository import ConfigRepository


async def saved_config(store: Store, publisher_id: int) -> uuid.UUID:
    """A configuration of `publisher_id`, stored as the API stores one; its id."""
    now = datetime.now(UTC)
    payload = PostbackConfigIn(
        name=f"pb-{publisher_id}-{uuid.uuid4().hex[:6]}",
        type="Conversion",
        publisher_id=publisher_id,
        url="http://127.0.0.1:9/pb?t={transaction_id}",
    )
    config = PostbackConfig.stamp(payload, id=uuid.uuid4(), created_at=now, now=now, version=1)
    await ConfigRepository(store).save(config)
    return config.id
