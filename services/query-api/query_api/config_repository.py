"""Postback configurations in ClickHouse (`postback_configs`): the durable copy, owned here.

Each save appends a row with a higher version; ReplacingMergeTree(version, is_deleted) read with
FINAL yields the current set, deleted ones dropped.

A row saved before a check of today's existed (a URL with port 99999, say) still reads, so the
pages list it and the user can fix or delete it; it is counted and logged as it is read, and the
dispatcher skips it until it is fixed (config_table.py). A row that fails any other check is
left out of the list, counted and logged (once per row and process), so one row never breaks
the list or the start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

import orjson
from pydantic import ValidationError, field_validator

from postbacks.configs import PostbackConfig
from postbacks.containment import contained
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
        return [config for r in rows if (config := _stored(r)) is not None]

    async def get(self, config_id: UUID) -> PostbackConfig | None:
        rows = await self._store.select(
            f"SELECT * FROM {self._table} FINAL WHERE id = {{id:UUID}}", {"id": str(config_id)}
        )
        return _stored(rows[0]) if rows else None

    async def find_by_name(self, name: str) -> PostbackConfig | None:
        rows = await self._store.select(
            f"SELECT * FROM {self._table} FINAL WHERE name = {{name:String}}", {"name": name}
        )
        return _stored(rows[0]) if rows else None

    async def owners(self) -> Sequence[tuple[str, int | None, int | None]]:
        """(id, publisher_id, offer_id) of every configuration, a deleted one's as it was last
        saved: a confined token keeps seeing the attempts of its deleted configurations."""
        rows = await self._store.select(
            f"SELECT toString(id) AS id, argMax(publisher_id, version) AS publisher_id, "
            f"argMax(offer_id, version) AS offer_id FROM {self._table} GROUP BY id"
        )
        return [(row["id"], row["publisher_id"], row["offer_id"]) for row in rows]

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


class _UncheckedUrlConfig(PostbackConfig):
    """A stored configuration whose URL today's checks refuse: readable, so it can be fixed."""

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return value


def check_usable(config: PostbackConfig) -> None:
    """Raise ValidationError, naming the field, when `config` was read despite failing today's
    checks: firing it would only reach the dispatcher's dead-letter topic."""
    if isinstance(config, _UncheckedUrlConfig):
        PostbackConfig.model_validate(config.model_dump())


# Stored configurations already counted and logged: each once per process, not once per read.
_reported: set[tuple[object, object]] = set()


def _stored(row: Row) -> PostbackConfig | None:
    try:
        return PostbackConfig.model_validate(row)
    except ValidationError as exc:
        if (row.get("id"), row.get("version")) not in _reported:
            _reported.add((row.get("id"), row.get("version")))
            contained("query-api", "configuration", f"stored postback {row.get('id')}", exc)
    try:
        return _UncheckedUrlConfig.model_validate(row)
    except ValidationError:
        return None
