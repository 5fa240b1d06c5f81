"""Production commands connect where they are told to, or refuse to start (design §9).

Falling back to the embedded defaults in production is the quiet failure this prevents: a
log-writer without CLICKHOUSE_URL would write the attempt log into a chDB directory inside its
own container, and the query-api would read another one. `postbacks dev` runs on the embedded
defaults by design; a production command does so only when told to (`--embedded`), and says so.
"""

from __future__ import annotations

import logging

import typer

from postbacks.settings import CommonSettings

log = logging.getLogger(__name__)


def require_explicit_connections(settings: CommonSettings, *, store: bool) -> None:
    """Exit 2 naming each missing setting, unless `settings.embedded` allows the defaults."""
    missing = [] if settings.kafka_bootstrap else ["POSTBACKS_KAFKA_BOOTSTRAP (Kafka bootstrap)"]
    if store and not settings.clickhouse_url:
        missing.append("CLICKHOUSE_URL (the ClickHouse server)")
    if not missing:
        return
    defaults = f"Kafka at {settings.bootstrap}" + (
        f" and chDB in {settings.data_dir / 'clickhouse'}, which no other process can read"
        if store and not settings.clickhouse_url
        else ""
    )
    if settings.embedded:
        log.warning("POSTBACKS_EMBEDDED: running on the embedded defaults, %s", defaults)
        return
    typer.echo(
        f"refusing to start: {' and '.join(missing)} not set. Set them, or pass --embedded "
        f"(POSTBACKS_EMBEDDED=true) to try the embedded defaults: {defaults}",
        err=True,
    )
    raise typer.Exit(2)
