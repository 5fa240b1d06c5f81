"""Postback configurations in ClickHouse (`postback_configs`): the durable copy, owned here.

Each save appends a row with a higher version; ReplacingMergeTree(version, is_deleted) read with
FINAL yields the current set, deleted ones dropped.
"""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

import orjson

from postbacks.configs import PostbackConfig
from postbacks.store import Params, Row

TABLE = "postback_configs"


class ConfigStore(Protocol):
    def table(self, name: str) -> str: ...
    async def select(self, sql: str, params: Params | None = None) -> list[Row]: ...
    async def insert_json(self, table: str, rows: list[bytes]) -> None: ...


class ConfigRepository:
    def __init__(self, store: ConfigStore) -> None:
        self._store = store
        self._table = store.table(TABLE)

    async def list(self) -> list[PostbackConfig]:
        rows = await self._store.select(
            f"SELECT * FROM {self._table} FINAL ORDER BY created_at, id"
        )
        return [PostbackConfig.model_validate(r) for r in rows]

    async def get(self, config_id: UUID) -> PostbackConfig | None:
        rows = await self._store.select(
            f"SELECT * FROM {self._table} FINAL WHERE id = {{id:UUID}}", {"id": str(config_id)}
        )
        return PostbackConfig.model_validate(rows[0]) if rows else None

    async def find_by_name(self, name: str) -> PostbackConfig | None:
        rows = await self._store.select(
            f"SELECT * FROM {self._table} FINAL WHERE name = {{name:String}}", {"name": name}
        )
        return PostbackConfig.model_validate(rows[0]) if rows else None

    async def save(self, config: PostbackConfig) -> None:
        await self._store.insert_json(TABLE, [_row(config, deleted=False)])

    async def delete(self, config: PostbackConfig) -> None:
        # The tombstone row must outrank every earlier version of this id.
        tombstone = config.model_copy(update={"version": config.version + 1})
        await self._store.insert_json(TABLE, [_row(tombstone, deleted=True)])


def _row(config: PostbackConfig, *, deleted: bool) -> bytes:
    row: dict[str, Any] = config.model_dump(mode="json")
    row["is_deleted"] = int(deleted)
    return orjson.dumps(row)
