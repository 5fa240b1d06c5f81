"""Open the store the settings ask for: a ClickHouse server if CLICKHOUSE_URL is set, else chDB."""

from __future__ import annotations

from postbacks.settings import CommonSettings
from postbacks.store.protocol import Store


def open_store(settings: CommonSettings) -> Store:
    if settings.clickhouse_url:
        from postbacks.store.server_backend import ServerStore

        # POSTBACKS_CLICKHOUSE_DATABASE, when set, wins over the URL's ?database=.
        chosen = "clickhouse_database" in settings.model_fields_set
        database = settings.clickhouse_database if chosen else None
        return ServerStore.from_url(settings.clickhouse_url, database=database)
    from postbacks.store.chdb_backend import EmbeddedStore

    return EmbeddedStore(settings.data_dir / "clickhouse", database=settings.clickhouse_database)
