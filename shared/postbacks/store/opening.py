"""Open the store the settings ask for: a ClickHouse server if CLICKHOUSE_URL is set, else chDB."""

from __future__ import annotations

from postbacks.settings import CommonSettings
from postbacks.store.protocol import Store


def open_store(settings: CommonSettings) -> Store:
    if settings.clickhouse_url:
        from postbacks.store.server_backend import ServerStore

        return ServerStore.from_url(settings.clickhouse_url, database=settings.clickhouse_database)
    from postbacks.store.chdb_backend import EmbeddedStore

    return EmbeddedStore(settings.data_dir / "clickhouse", database=settings.clickhouse_database)
