"""The production backend: a ClickHouse server over HTTP through clickhouse-connect.

It runs the same SQL text as the embedded backend, including the SETTINGS clauses that pin the
JSON shapes, so a query written against one answers alike on the other. clickhouse-connect's
sync client is used from worker threads (as chDB is): its async client needs aiohttp, which
nothing else here uses, and these calls are few and batched.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import clickhouse_connect
import orjson
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError, ProgrammingError

from postbacks.store.errors import StoreError, StoreQueryError
from postbacks.store.protocol import Params, QuerySettings, Row, check_identifier
from postbacks.store.sql import INSERT_SETTINGS, select_settings

# A `{name:Type}` placeholder, as clickhouse-connect recognises one. Without any, the driver
# falls back to client-side `%(name)s` formatting, which would break on a literal '%'.
_PLACEHOLDER = re.compile(r"\{\w+:[^}]+\}")
_AUTHENTICATION_FAILED = 516

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
    ) -> None:
        self._database = check_identifier(database)
        # No default database on the connection: the SQL names its database (as on chDB), and
        # the database may not exist until apply_schema creates it.
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
        self._client: Client | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, database: str | None = None) -> ServerStore:
        """`http[s]://user:password@host:port/?database=name`; `database` wins over the URL's."""
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
            username=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            secure=secure,
            database=database or query.get("database", ["postbacks"])[0],
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


def _store_error(exc: ClickHouseError) -> StoreError:
    """A refused statement is a StoreQueryError; an unreachable or unusable server is not."""
    code = getattr(exc, "code", None)
    if isinstance(exc, ProgrammingError):  # raised by the driver before sending: a bad statement
        return StoreQueryError(str(exc))
    if isinstance(exc, OperationalError) or code is None or code == _AUTHENTICATION_FAILED:
        return StoreError(str(exc))
    return StoreQueryError(str(exc))
