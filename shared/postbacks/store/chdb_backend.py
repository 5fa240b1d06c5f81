"""The embedded backend: chDB runs the ClickHouse engine inside this process.

chDB allows one data directory per process and one process per directory, so every store in a
process shares one session (`shared_session`); stores differ only by database. Queries are
blocking C++ calls, run in worker threads so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from chdb import session as chdb_session

from postbacks.store.errors import StoreError, StoreQueryError
from postbacks.store.protocol import Params, QuerySettings, Row, check_identifier
from postbacks.store.sql import INSERT_SETTINGS, select_settings

_sessions: dict[Path, Any] = {}
_sessions_lock = threading.Lock()
# chDB 26.9 keeps query parameters on the session: two threads running parameterized queries at
# once clobber each other's values (seen as "Substitution `f0` is not set", or worse, answers
# computed with another query's values) and stall the event loop. Queries therefore run one at
# a time; the lock is taken in the worker thread, so waiting for it never blocks the loop.
_query_lock = threading.Lock()


def shared_session(data_dir: Path) -> Any:
    """The process's chDB session for `data_dir`; chDB cannot open a second directory."""
    path = data_dir.resolve()
    with _sessions_lock:
        if path not in _sessions:
            if _sessions:
                raise StoreError(
                    f"chDB already runs on {next(iter(_sessions))} in this process; "
                    f"it cannot also open {path}"
                )
            path.mkdir(parents=True, exist_ok=True)
            try:
                _sessions[path] = chdb_session.Session(str(path))  # type: ignore[no-untyped-call]
                atexit.register(_close_sessions)
            except Exception as exc:
                raise StoreError(
                    f"cannot open chDB data directory {path} (is another process using it?): {exc}"
                ) from exc
        return _sessions[path]


def _close_sessions() -> None:
    # Closed before the interpreter tears down: left to chDB's own exit path, a process that
    # ran the log-writer's background queries crashed at exit (SIGSEGV, "ShutdownTablesThreadPool
    # is not initialized") after every test had passed.
    with _sessions_lock, _query_lock:
        for session in _sessions.values():
            session.close()
        _sessions.clear()


def text_param(value: str | int | float | None) -> str:
    """A parameter value in ClickHouse's escaped text format, as the HTTP interface takes it."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return (
            value.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
            .replace("\0", "\\0")
        )
    return str(value)


class EmbeddedStore:
    def __init__(self, data_dir: Path, database: str = "postbacks") -> None:
        self._database = check_identifier(database)
        self._session = shared_session(data_dir)

    @property
    def database(self) -> str:
        return self._database

    def table(self, name: str) -> str:
        return f"{self._database}.{check_identifier(name)}"

    def _run(self, sql: str, params: Params | None) -> bytes:
        try:
            with _query_lock:
                if params:
                    text = {k: text_param(v) for k, v in params.items()}
                    result = self._session.query(sql, "JSONEachRow", params=text)
                else:
                    result = self._session.query(sql, "JSONEachRow")
        except Exception as exc:
            raise StoreQueryError(str(exc)) from exc
        data: bytes = result.bytes()
        return data

    async def execute(self, sql: str, params: Params | None = None) -> None:
        await asyncio.to_thread(self._run, sql, params)

    async def select(
        self, sql: str, params: Params | None = None, settings: QuerySettings | None = None
    ) -> list[Row]:
        text = f"{sql}\nSETTINGS {select_settings(settings)}"
        data = await asyncio.to_thread(self._run, text, params)
        return [orjson.loads(line) for line in data.splitlines() if line]

    async def insert_json(self, table: str, rows: Sequence[bytes]) -> None:
        if not rows:
            return
        sql = (
            f"INSERT INTO {self.table(table)} SETTINGS {INSERT_SETTINGS} FORMAT JSONEachRow\n"
            + "\n".join(r.decode() for r in rows)
        )
        await asyncio.to_thread(self._run, sql, None)

    async def ping(self) -> None:
        await asyncio.to_thread(self._run, "SELECT 1", None)

    async def close(self) -> None:
        # The session belongs to the process, not to this store: other stores may share it.
        return None
