"""Where a query's time goes: the SQL the reader sends, what the engine read, which indexes cut.

The SQL is captured, not rebuilt: the direct call runs once against a recording store, so what
is explained is exactly what the API runs. It is then run once more on the chDB session itself,
whose result tells how many rows and bytes were read from storage, and explained with
`EXPLAIN indexes = 1`.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from bench.timing import Call
from postbacks.store import Params, Row, Store
from postbacks.store.chdb_backend import text_param
from postbacks.store.protocol import QuerySettings
from postbacks.store.sql import select_settings
from query_api.logs.reader import LogStore


class RecordingStore:
    """Passes everything to a store, remembering the arguments of every SELECT on the way.

    Generic on purpose (`*args`, `__getattr__`): it must keep up with the Store protocol as
    the query-api grows (per-query settings, ...) without the benchmark changing.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self.selects: list[tuple[str, Params | None, QuerySettings | None]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def select(self, sql: str, *args: Any, **kwargs: Any) -> list[Row]:
        bound = inspect.signature(self._store.select).bind(sql, *args, **kwargs).arguments
        self.selects.append((sql, bound.get("params"), bound.get("settings")))
        rows: list[Row] = await self._store.select(sql, *args, **kwargs)
        return rows


@dataclass(frozen=True)
class Diagnosis:
    sql: str
    params: dict[str, Any]
    rows_read: int
    bytes_read: int
    engine_ms: float
    summary: str
    explain: list[str] = field(repr=False)


async def diagnose(
    session: Any, store: Store, make_call: Callable[[LogStore], Call]
) -> Diagnosis | None:
    """Run the call once through a RecordingStore, then measure and explain its last SELECT.

    `store` is the real store, not the guarded one the routes read: the SQL is the same, and
    the guardrails' settings (limits) do not change the plan.
    """
    recorder = RecordingStore(store)
    await make_call(cast(LogStore, recorder))()
    if not recorder.selects:
        return None
    sql, params, settings = recorder.selects[-1]
    text = {k: text_param(v) for k, v in (params or {}).items()}
    # The statement as the store sends it, with the pinned settings and the query's own; and
    # without the query condition cache, which the recorded run has just filled for this very
    # condition (it would report the granules it skipped as not read).
    no_cache = {**(settings or {}), "use_query_condition_cache": 0}
    full = f"{sql}\nSETTINGS {select_settings(no_cache)}"

    def run() -> tuple[Any, str]:
        result = session.query(full, "JSONEachRow", params=text)
        plan = session.query(f"EXPLAIN indexes = 1 {full}", "TabSeparatedRaw", params=text)
        return result, plan.bytes().decode()

    result, plan = await asyncio.to_thread(run)
    lines = plan.splitlines()
    return Diagnosis(
        sql=" ".join(full.split()),
        params=dict(params or {}),
        rows_read=int(result.storage_rows_read()),
        bytes_read=int(result.storage_bytes_read()),
        engine_ms=float(result.elapsed()) * 1000,
        summary=summarize(lines),
        explain=lines,
    )


async def read_floor_ms(session: Any, table: str, column: str, from_ms: int) -> float:
    """Best of three engine times for reading `column` over the window from `from_ms`, with no
    search at all: the floor under any scan of it (decompression and memory, nothing else).

    `length` would read only the column's sizes; optimize_functions_to_subcolumns = 0 makes
    it read, and decompress, every value."""
    sql = (
        f"SELECT sum(length({column})) FROM {table} "
        "WHERE attempted_at >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC') "
        "SETTINGS optimize_functions_to_subcolumns = 0, use_query_condition_cache = 0"
    )

    def run() -> float:
        result = session.query(sql, "CSV", params={"from_ms": str(from_ms)})
        return float(result.elapsed()) * 1000

    return min([await asyncio.to_thread(run) for _ in range(3)])


_SECTION = re.compile(r"^\s*(Min-Max|Partition|PrimaryKey|Skip)\s*$")


def summarize(explain: Sequence[str]) -> str:
    """One line from `EXPLAIN indexes = 1`: read order, PREWHERE, and granules per index."""
    read_type = prewhere = ""
    section = ""
    granules: list[str] = []
    for raw in explain:
        line = raw.strip(" │├└─")
        if line.startswith("Read type:"):
            read_type = line.removeprefix("Read type:").strip()
        elif line.startswith("Prewhere filter column:"):
            prewhere = line.removeprefix("Prewhere filter column:").strip()
        elif match := _SECTION.match(line):
            section = match.group(1)
        elif line.startswith("Name:") and section == "Skip":
            section = line.removeprefix("Name:").strip()
        elif line.startswith("Granules:") and section not in ("", "Min-Max", "Partition", "Skip"):
            granules.append(f"{section} {line.removeprefix('Granules:').strip()}")
    parts = [f"read {read_type or 'in key order'}"]
    if prewhere:
        parts.append(f"prewhere {prewhere}")
    parts.append("granules kept: " + (", ".join(granules) or "?"))
    return "; ".join(parts)
