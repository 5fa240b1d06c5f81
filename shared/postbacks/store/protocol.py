"""What the services need from ClickHouse, and nothing more."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

Row = dict[str, Any]
# Parameter values for `{name:Type}` placeholders. None binds SQL NULL.
Params = Mapping[str, str | int | float | None]
# ClickHouse settings for one query (`max_execution_time`, ...), appended to its SETTINGS clause.
QuerySettings = Mapping[str, str | int | float]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_identifier(name: str) -> str:
    """Database and table names are spliced into SQL text, so only plain identifiers pass."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


class Store(Protocol):
    """One ClickHouse database. Every method runs the same SQL text on every backend."""

    @property
    def database(self) -> str: ...

    def table(self, name: str) -> str:
        """The database-qualified name of a table, for SQL text."""
        ...

    async def execute(self, sql: str, params: Params | None = None) -> None:
        """Run a statement that returns no rows (DDL, ALTER, INSERT ... SELECT)."""
        ...

    async def select(
        self, sql: str, params: Params | None = None, settings: QuerySettings | None = None
    ) -> list[Row]:
        """Run a SELECT and return its rows as dicts (64-bit integers as numbers).

        The backend appends a SETTINGS clause (store/sql.py): its pinned settings, then
        `settings`. So `sql` must not end with its own SETTINGS, FORMAT or ';'.
        """
        ...

    async def insert_json(self, table: str, rows: Sequence[bytes]) -> None:
        """Insert rows already encoded as JSON objects (one per item) into `table`."""
        ...

    async def ping(self) -> None:
        """Raise StoreError unless the store answers a query."""
        ...

    async def close(self) -> None: ...
