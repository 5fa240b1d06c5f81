"""Open the store the settings ask for (a ClickHouse server if CLICKHOUSE_URL is set, else chDB),
and ready it when a service starts."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from postbacks.settings import CommonSettings
from postbacks.startup import Misconfigured, wait_for
from postbacks.store.errors import StoreRefused
from postbacks.store.migration import TooOld, check_versions, migrate, server_version
from postbacks.store.protocol import Store
from postbacks.tls_errors import TlsRefusal

log = logging.getLogger(__name__)


def open_store(settings: CommonSettings) -> Store:
    if settings.clickhouse_url:
        from postbacks.store.server_backend import ServerStore

        # POSTBACKS_CLICKHOUSE_DATABASE, when set, wins over the URL's ?database=; so do
        # POSTBACKS_CLICKHOUSE_USER and _PASSWORD over its user:password.
        chosen = "clickhouse_database" in settings.model_fields_set
        password = settings.clickhouse_password
        return ServerStore.from_url(
            settings.clickhouse_url,
            database=settings.clickhouse_database if chosen else None,
            username=settings.clickhouse_user,
            password=password.get_secret_value() if password is not None else None,
            ca_file=settings.clickhouse_ca_file,
            cert_file=settings.clickhouse_cert_file,
            key_file=settings.clickhouse_key_file,
        )
    from postbacks.store.chdb_backend import EmbeddedStore

    return EmbeddedStore(settings.data_dir / "clickhouse", database=settings.clickhouse_database)


async def ready_store(store: Store, settings: CommonSettings) -> None:
    """At a service's start. The embedded engine is this process's own: the service applies the
    schema to it. A server's schema is `postbacks migrate`'s: the service waits for the server,
    then refuses to start (Misconfigured) on a server or schema older than this release needs."""
    if not settings.clickhouse_url:
        await migrate(store)
        return
    await wait_for_server(store, settings)
    try:
        await check_versions(store)
    except TooOld as old:
        raise Misconfigured("CLICKHOUSE_URL and POSTBACKS_CLICKHOUSE_DATABASE", str(old)) from old


async def wait_for_server(store: Store, settings: CommonSettings) -> str:
    """The server's version, once it answers; Misconfigured if it refuses our account or TLS."""

    def refusal(error: Exception) -> Misconfigured | None:
        if not isinstance(error, StoreRefused):
            return None  # not up yet (refused connection, timeout, 5xx, a dropped handshake): wait
        if error.reason == "credentials":
            return Misconfigured(
                "POSTBACKS_CLICKHOUSE_USER and POSTBACKS_CLICKHOUSE_PASSWORD (or the user:password "
                "of CLICKHOUSE_URL)",
                f"ClickHouse refused the account: {error}",
            )
        setting, problem = _TLS_REFUSALS[error.reason]
        return Misconfigured(setting, f"TLS with ClickHouse failed: {problem} ({error})")

    version = await wait_for(
        f"ClickHouse at {_without_credentials(settings.clickhouse_url or '')}",
        lambda: server_version(store),
        setting="CLICKHOUSE_URL",
        refusal=refusal,
    )
    log.info("ClickHouse %s answers", version)
    return version


# Each kind of TLS refusal (postbacks.tls_errors) with the setting to fix and what it means.
_TLS_REFUSALS: dict[TlsRefusal, tuple[str, str]] = {
    "client_certificate": (
        "POSTBACKS_CLICKHOUSE_CERT_FILE and POSTBACKS_CLICKHOUSE_KEY_FILE",
        "the server did not accept our client certificate, or wants one",
    ),
    "ca": (
        "POSTBACKS_CLICKHOUSE_CA_FILE (the CA of the server's certificate)",
        "the server's certificate is not signed by a CA we trust",
    ),
    "hostname": (
        "the host of CLICKHOUSE_URL",
        "the server's certificate does not hold the host we connect to: use a name it holds",
    ),
    "not_tls": (
        "the https:// scheme (or the port) of CLICKHOUSE_URL",
        "the server there does not speak TLS",
    ),
}


def _without_credentials(url: str) -> str:
    """The URL to name in logs: no user:password."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
