"""Create, replace and delete configurations: store first, then publish to the dispatchers.

The ClickHouse row is the durable copy and is written first; the Kafka record is how running
dispatchers learn of the change. If publishing fails after the row is stored, the caller gets an
error and the change reaches dispatchers at the latest when the query-api next starts and
republishes the full set.

PUT and PATCH take the read-only fields back as GET returned them (a configuration read, changed
and sent back): each one sent must match what is stored. `version` (with `updated_at` when no
version is sent) says which revision the client read: an earlier one means the configuration
changed since, and the write is refused with 409 rather than overwriting that change (a lost
update); a value the server never held (another id, a later version, ...) is a 422 naming it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from uuid import UUID

from pydantic import ValidationError

from postbacks.clock import now_ms
from postbacks.configs import (
    READ_ONLY_FIELDS,
    PostbackConfig,
    PostbackConfigIn,
    PostbackConfigPatch,
    ReadBack,
    patched,
)
from query_api.config_repository import ConfigRepository
from query_api.confinement import UNCONFINED, Confinement
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.errors import Conflict, Invalid, NotFound, field_errors


class PostbackService:
    def __init__(self, repository: ConfigRepository, publisher: DispatcherPublisher) -> None:
        self.repository = repository
        self._publisher = publisher
        # Serialises writes in this process so version numbers and name checks do not race.
        self._writes = asyncio.Lock()

    async def list(self, confinement: Confinement = UNCONFINED) -> list[PostbackConfig]:
        """Every configuration, or those inside `confinement`."""
        return [c for c in await self.repository.list() if confinement.admits_config(c)]

    async def create(
        self, payload: PostbackConfigIn, confinement: Confinement = UNCONFINED
    ) -> PostbackConfig:
        confinement.check_config(payload)
        async with self._writes:
            await self._check_name_free(payload.name, None, confinement)
            now = now_ms()
            config = PostbackConfig.stamp(
                payload, id=uuid.uuid4(), created_at=now, now=now, version=1
            )
            await self.repository.save(config)
        await self._publisher.publish(config)
        return config

    async def replace(
        self,
        config_id: UUID,
        payload: PostbackConfigIn,
        read: ReadBack | None = None,
        confinement: Confinement = UNCONFINED,
    ) -> PostbackConfig:
        """PUT: `payload` replaces every field; `read`, the read-only fields sent back."""
        async with self._writes:
            current = await self.get(config_id, confinement)
            if read is not None:
                _check_read_back(current, read)
            config = await self._save_over(current, payload, confinement)
        await self._publisher.publish(config)
        return config

    async def patch(
        self,
        config_id: UUID,
        patch: PostbackConfigPatch,
        confinement: Confinement = UNCONFINED,
    ) -> PostbackConfig:
        """PATCH: `patch` merged (RFC 7396) into the stored fields, then checked as a PUT is.

        Read, merged and saved under the write lock, so no write in this process lands
        between the read the patch is merged into and the save.
        """
        async with self._writes:
            current = await self.get(config_id, confinement)
            _check_read_back(current, patch.read_back())
            merged = patched(current, patch)
            try:
                payload = PostbackConfigIn.model_validate(merged)
            except ValidationError as exc:
                raise field_errors(exc.errors()) from None
            config = await self._save_over(current, payload, confinement)
        await self._publisher.publish(config)
        return config

    async def _save_over(
        self, current: PostbackConfig, payload: PostbackConfigIn, confinement: Confinement
    ) -> PostbackConfig:
        # A confined token may not move its configuration to another publisher either.
        confinement.check_config(payload)
        await self._check_name_free(payload.name, current.id, confinement)
        config = PostbackConfig.stamp(
            payload,
            id=current.id,
            created_at=current.created_at,
            now=now_ms(),
            version=current.version + 1,
        )
        await self.repository.save(config)
        return config

    async def delete(self, config_id: UUID, confinement: Confinement = UNCONFINED) -> None:
        async with self._writes:
            current = await self.get(config_id, confinement)
            await self.repository.delete(current)
        await self._publisher.publish_deleted(config_id)

    async def get(self, config_id: UUID, confinement: Confinement = UNCONFINED) -> PostbackConfig:
        """The configuration; NotFound when there is none, or it is outside `confinement`
        (answered alike, so a confined token learns nothing of others' configurations)."""
        config = await self.repository.get(config_id)
        if config is None or not confinement.admits_config(config):
            raise NotFound(f"no postback configuration with id {config_id}")
        return config

    async def _check_name_free(
        self, name: str, own_id: UUID | None, confinement: Confinement
    ) -> None:
        other = await self.repository.find_by_name(name)
        if other is not None and other.id != own_id:
            # Names are unique across publishers; another publisher's id is not shown.
            which = f" (id {other.id})" if confinement.admits_config(other) else ""
            raise Invalid(
                f"name: a postback configuration named {name!r} already exists{which}; "
                "choose another name or update that one",
                details=[{"field": "name", "message": "already in use"}],
            )


def _check_read_back(current: PostbackConfig, sent: ReadBack) -> None:
    """Ignore the read-only fields sent as stored; refuse those sent changed (422, naming each)
    and a write based on an earlier revision (409)."""
    earlier = _read_earlier(current, sent)
    # Read earlier, `version` and `updated_at` differ from the stored ones: that is the 409.
    revision = {"version", "updated_at"} if earlier else set()
    details = [
        {"field": name, "message": f"read-only: it is {_shown(stored)}, not {_shown(given)}"}
        for name in READ_ONLY_FIELDS
        if name not in revision
        and (given := getattr(sent, name)) is not None
        and given != (stored := getattr(current, name))
    ]
    if details:
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        raise Invalid(
            f"{summary}; leave read-only fields out, or send them as GET returns them",
            details=details,
        )
    if earlier is not None:
        raise Conflict(
            f"{earlier}: the configuration changed since you read it (you read {earlier} "
            f"{_shown(getattr(sent, earlier))}; it is now at version {current.version}, updated "
            f"at {_shown(current.updated_at)}): GET it again and make your change to that",
            details=[{"field": earlier, "message": "changed since it was read"}],
        )


def _read_earlier(current: PostbackConfig, sent: ReadBack) -> str | None:
    """The field showing that the client read an earlier revision, if one does: `version`,
    or `updated_at` when no version is sent. A later one was never stored: a 422."""
    if sent.version is not None:
        return "version" if sent.version < current.version else None
    if sent.updated_at is not None and sent.updated_at < current.updated_at:
        return "updated_at"
    return None


def _shown(value: object) -> str:
    """A value as GET shows it (times in UTC with Z)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)
