"""Create, replace and delete configurations: store first, then publish to the dispatchers.

The ClickHouse row is the durable copy and is written first; the Kafka record is how running
dispatchers learn of the change. If publishing fails after the row is stored, the caller gets an
error and the change reaches dispatchers at the latest when the query-api next starts and
republishes the full set.
"""

from __future__ import annotations

import asyncio
import uuid
from uuid import UUID

from postbacks.clock import now_ms
from postbacks.configs import PostbackConfig, PostbackConfigIn
from query_api.config_repository import ConfigRepository
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.errors import Invalid, NotFound


class PostbackService:
    def __init__(self, repository: ConfigRepository, publisher: DispatcherPublisher) -> None:
        self.repository = repository
        self._publisher = publisher
        # Serialises writes in this process so version numbers and name checks do not race.
        self._writes = asyncio.Lock()

    async def create(self, payload: PostbackConfigIn) -> PostbackConfig:
        async with self._writes:
            await self._check_name_free(payload.name, None)
            now = now_ms()
            config = PostbackConfig.stamp(
                payload, id=uuid.uuid4(), created_at=now, now=now, version=1
            )
            await self.repository.save(config)
        await self._publisher.publish(config)
        return config

    async def replace(self, config_id: UUID, payload: PostbackConfigIn) -> PostbackConfig:
        async with self._writes:
            current = await self.get(config_id)
            await self._check_name_free(payload.name, config_id)
            config = PostbackConfig.stamp(
                payload,
                id=config_id,
                created_at=current.created_at,
                now=now_ms(),
                version=current.version + 1,
            )
            await self.repository.save(config)
        await self._publisher.publish(config)
        return config

    async def delete(self, config_id: UUID) -> None:
        async with self._writes:
            current = await self.get(config_id)
            await self.repository.delete(current)
        await self._publisher.publish_deleted(config_id)

    async def get(self, config_id: UUID) -> PostbackConfig:
        config = await self.repository.get(config_id)
        if config is None:
            raise NotFound(f"no postback configuration with id {config_id}")
        return config

    async def _check_name_free(self, name: str, own_id: UUID | None) -> None:
        other = await self.repository.find_by_name(name)
        if other is not None and other.id != own_id:
            raise Invalid(
                f"name: a postback configuration named {name!r} already exists "
                f"(id {other.id}); choose another name or update that one",
                details=[{"field": "name", "message": "already in use"}],
            )
