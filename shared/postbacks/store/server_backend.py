"""The production backend: a ClickHouse server over HTTP through clickhouse-connect.

It runs the same SQL text as the embedded backend, including the SETTINGS clauses that pin the
JSON shapes, so a query written against one answers alike on the other. clickhouse-connect's
sync client is used from worker threads (as chDB is): its async client needs aiohttp, which
nothing else here uses, and these calls are few and batched.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import clickhouse_connect
import orjson
import urllib3
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError, ProgrammingError

from postbacks.store.errors import StoreError, StoreQueryError, StoreRefused
from postbacks.store.protocol import Params, QuerySettings, Row, check_identifier
from postbacks.store.sql import INSERT_SETTINGS, select_settings
from postbacks.tls_errors import tls_refusal_kind

# A `{name:Type}` placeholder, as clickhouse-connect recognises one. Without any, the driver
# falls back to client-side `%(name)s` formatting, which would break on a literal '%'.
_PLACEHOLDER = re.compile(r"\{\w+:[^}]+\}")
# UNKNOWN_USER, REQUIRED_PASSWORD, WRONG_PASSWORD, AUTHENTICATION_FAILED: a server that answers
# these will answer them again.
_CREDENTIALS_REFUSED = frozenset({192, 194, 193, 516})

T = TypeVar("T")


class ServerStore:
    """One database on a ClickHouse server. Connects on first use, in a worker thread."""

    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 8123,
        username: str = "default",
        password: str = "",
        secure: bool = False,
        database: str = "postbacks",
        ca_file: Path | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
    ) -> None:
        self._database = check_identifier(database)
        if (ca_file or cert_file or key_file) and not secure:
            raise ValueError("a CA file, client certificate or key is for https only")
        # No default database on the connection: the SQL names its database (as on chDB), and
        # the database may not exist until `postbacks migrate` creates it.
        self._options: dict[str, Any] = {
            "host": host,
            "port": port,
            "username": username,
            "password": password,
            "secure": secure,
            # Sessions forbid concurrent queries, and the worker threads do run concurrently.
            "autogenerate_session_id": False,
            # Bodies are sent and read as they are (raw_query, command); nothing to compress.
            "compress": False,
            "dedicated_pool": True,
        }
        if secure:
            self._options.update(_tls_options(password, ca_file, cert_file, key_file))
        self._client: Client | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_url(
        cls,
        url: str,
        database: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
    ) -> ServerStore:
        """`http[s]://user:password@host:port/?database=name`; the arguments win over the URL's."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"ClickHouse URL must start with http:// or https://, not {url!r}")
        query = parse_qs(parts.query)
        unknown = sorted(set(query) - {"database"})
        if unknown:
            raise ValueError(f"ClickHouse URL has unsupported parameters: {', '.join(unknown)}")
        secure = parts.scheme == "https"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (8443 if secure else 8123),
            username=username or unquote(parts.username or "default"),
            password=password if password is not None else unquote(parts.password or ""),
            secure=secure,
            database=database or query.get("database", ["postbacks"])[0],
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
        )

    @property
    def database(self) -> str:
        return self._database

    def table(self, name: str) -> str:
        return f"{self._database}.{check_identifier(name)}"

    def _connect(self) -> Client:
        with self._lock:
            if self._client is None:
                self._client = clickhouse_connect.get_client(**self._options)
            return self._client

    def _run(self, work: Callable[[Client], T]) -> T:
        try:
            return work(self._connect())
        except ClickHouseError as exc:
            raise _store_error(exc) from exc

    async def _in_thread(self, work: Callable[[Client], T]) -> T:
        return await asyncio.to_thread(self._run, work)

    async def execute(self, sql: str, params: Params | None = None) -> None:
        bound = _bindable(sql, params)
        await self._in_thread(lambda client: client.command(sql, parameters=bound))

    async def select(
        self, sql: str, params: Params | None = None, settings: QuerySettings | None = None
    ) -> list[Row]:
        text, bound = f"{sql}\nSETTINGS {select_settings(settings)}", _bindable(sql, params)
        data = await self._in_thread(
            lambda client: client.raw_query(text, parameters=bound, fmt="JSONEachRow")
        )
        return [orjson.loads(line) for line in data.splitlines() if line]

    async def insert_json(self, table: str, rows: Sequence[bytes]) -> None:
        if not rows:
            return
        # The statement travels in the URL and the rows as the body; the server joins them.
        sql = f"INSERT INTO {self.table(table)} SETTINGS {INSERT_SETTINGS} FORMAT JSONEachRow"
        body = b"\n".join(rows)
        await self._in_thread(lambda client: client.command(sql, data=body))

    async def ping(self) -> None:
        await self.select("SELECT 1")

    async def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)


def _bindable(sql: str, params: Params | None) -> dict[str, Any] | None:
    # ClickHouse ignores parameters that no placeholder uses; so do we, rather than let the
    # driver format them into the SQL text client-side.
    if not params or not _PLACEHOLDER.search(sql):
        return None
    return dict(params)


def _tls_options(
    password: str, ca_file: Path | None, cert_file: Path | None, key_file: Path | None
) -> dict[str, Any]:
    """clickhouse-connect's TLS options. The server's certificate is always verified, against
    `ca_file` or else the system's CAs. With a client certificate, the account still signs in
    with its password when it has one (tls_mode "strict": the certificate only opens the
    connection); without a password the certificate is the credential ("mutual": ClickHouse
    maps it to a user IDENTIFIED WITH ssl_certificate)."""
    options: dict[str, Any] = {"verify": True}
    if ca_file is not None:
        options["ca_cert"] = str(ca_file)
    if cert_file is not None:
        options["client_cert"] = str(cert_file)
        options["tls_mode"] = "strict" if password else "mutual"
        if key_file is not None:
            options["client_cert_key"] = str(key_file)
    return options


def _store_error(exc: ClickHouseError) -> StoreError:
    """A refused statement is a StoreQueryError; an unreachable or unusable server is not, and a
    server that refuses our credentials or TLS is a StoreRefused. A TLS failure that names none
    of our settings (the connection dropped mid-handshake by a server or load balancer that is
    restarting) is a plain StoreError: the service waits for it."""
    code = getattr(exc, "code", None)
    if isinstance(exc, ProgrammingError):  # raised by the driver before sending: a bad statement
        return StoreQueryError(str(exc))
    if code in _CREDENTIALS_REFUSED:
        return StoreRefused(str(exc), "credentials")
    tls = _tls_failure(exc)
    if tls is not None and (kind := tls_refusal_kind(tls)) is not None:
        return StoreRefused(f"{exc}: {tls}", kind)
    if tls is not None:
        # Under TLS 1.3 a server refuses a missing client certificate after our handshake has
        # finished, and its alert can be lost to the reset that follows: say so while waiting.
        return StoreError(
            f"{exc} (TLS dropped: the server may be restarting, or want a client certificate, "
            "POSTBACKS_CLICKHOUSE_CERT_FILE)"
        )
    if isinstance(exc, OperationalError) or code is None:
        return StoreError(str(exc))
    return StoreQueryError(str(exc))


def _tls_failure(exc: BaseException) -> str | None:
    """The TLS error behind a failed request (a certificate not verified, a handshake the
    server refused), found along the chain urllib3 and clickhouse-connect wrap it in."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, ssl.SSLError | urllib3.exceptions.SSLError):
            return str(error)
        reason = getattr(error, "reason", None)  # urllib3's MaxRetryError
        pending += [error.__cause__, error.__context__]
        if isinstance(reason, BaseException):
            pending.append(reason)
    return None
