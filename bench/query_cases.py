"""The queries the query benchmark times, each two ways: through the API and directly.

"Directly" is what the route does minus HTTP and JSON: parse the same query string with
`parse_log_query` and call the same reader (`read_logs`) on the same store, so the difference
between the two is the API's own overhead (routing, validation, encoding, uvicorn, the client).

The parameters are picked from the loaded data (a mid-size publisher, real transaction ids), so
every query has something to find however many rows were generated.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal

import aiohttp
import httpx
import orjson

from bench.timing import Call, Rejected
from postbacks.store import Store
from query_api.logs import reader as log_reader
from query_api.logs.filters import LogQuery, parse_log_query, where_clause
from query_api.logs.reader import LogStore

LOGS = "/api/v1/logs"
COUNT = "/api/v1/logs/count"
TABLE = log_reader.TABLE
HOUR_MS = 3_600_000

Kind = Literal["equality", "contains"]
# p99 targets of issue 6: equality filters (and the cursor, which is one) 100 ms, contains 300.
TARGET_P99_MS: dict[Kind, float] = {"equality": 100.0, "contains": 300.0}
TARGET_OVERHEAD_PCT = 20.0
Params = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Case:
    label: str
    path: str
    params: Params
    kind: Kind
    matching_rows: int = 0
    # Fields every listed item must have: checked under concurrency, where a wrong answer
    # (rows of another request) is a finding, not a curiosity.
    expect: tuple[tuple[str, str | int], ...] = ()

    @property
    def query_string(self) -> str:
        return str(httpx.QueryParams(list(self.params)))

    @property
    def target_p99_ms(self) -> float:
        return TARGET_P99_MS[self.kind]


async def pick_cases(store: Store, now_ms: int, deep_pages: int, page_limit: int) -> list[Case]:
    """The benchmark's queries, with parameters taken from what `store` holds."""
    table = store.table(TABLE)
    ranked = await store.select(
        f"SELECT publisher_id, count() AS n FROM {table} GROUP BY publisher_id "
        "ORDER BY n DESC, publisher_id LIMIT 50"
    )
    publisher = str(ranked[-1]["publisher_id"])  # the 50th busiest: mid-size, not hot
    exact_tx = await _transaction_at(store, now_ms - 10 * HOUR_MS)
    url_part = (await _transaction_at(store, now_ms - 15 * HOUR_MS))[10:22]
    publisher_failures: Params = (("publisher_id", publisher), ("status", "Failed"))
    deep: Params = (("status", "Failed"), ("limit", str(page_limit)))
    cursor = await _cursor_after(store, deep, deep_pages)
    cases = [
        Case(
            "publisher failures",
            LOGS,
            publisher_failures,
            "equality",
            expect=(("publisher_id", int(publisher)), ("status", "Failed")),
        ),
        Case("status is not Success", LOGS, (("status__is_not", "Success"),), "equality"),
        Case("url contains tx part", LOGS, (("url__contains", url_part),), "contains"),
        Case("error contains refused", LOGS, (("error__contains", "refused"),), "contains"),
        Case("transaction_id is", LOGS, (("transaction_id", exact_tx),), "equality"),
        Case(f"deep page (page {deep_pages + 1})", LOGS, (*deep, ("cursor", cursor)), "equality"),
        Case("count publisher failures", COUNT, publisher_failures, "equality"),
    ]
    return [replace(c, matching_rows=await _matching_rows(store, c.params)) for c in cases]


def api_call(client: aiohttp.ClientSession, case: Case, verify: bool = False) -> Call:
    """One GET of the case through the API; Rejected unless it answers 200 (and, with
    `verify`, unless every item has the case's `expect` fields)."""
    url = f"{case.path}?{case.query_string}"

    async def call() -> object:
        try:
            async with client.get(url) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:  # no answer at all
            raise Rejected(f"no answer: {type(exc).__name__} {exc}".strip()) from exc
        if response.status != 200:
            raise Rejected(f"HTTP {response.status}: {body[:300].decode(errors='replace')}")
        if verify and case.expect:
            for item in orjson.loads(body)["items"]:
                wrong = {k: item[k] for k, v in case.expect if item[k] != v}
                if wrong:
                    raise Rejected(f"wrong answer: an item with {wrong} for {case.query_string}")
        return body

    return call


def direct_call(store: LogStore, case: Case, window: timedelta | None = None) -> Call:
    """What the route does for the case, minus HTTP: parse, then read `store`.

    `store` should be the one the routes read (`services_of(app).log_store`, which may wrap
    the real one in guardrails), and `window` the API's default time window, if it has one: the
    API adds `from` = now - window to a query without it before the route parses it, and so
    does this.
    """

    def query() -> LogQuery:
        pairs = case.params
        if window is not None and not any(key == "from" for key, _ in pairs):
            since = int(time.time() * 1000) - window // timedelta(milliseconds=1)
            pairs = (*pairs, ("from", log_reader.format_time(since)))
        return parse_log_query(pairs)

    if case.path == COUNT:
        count = count_function()
        if count is None:
            raise LookupError("no count function in query_api to compare the count route with")

        async def count_call() -> object:
            return await count(store, query())

        return count_call

    async def call() -> object:
        return await log_reader.read_logs(store, query())

    return call


CountFunction = Callable[[LogStore, LogQuery], Awaitable[object]]


def count_function() -> CountFunction | None:
    """The reader behind `GET /api/v1/logs/count`, wherever the query-api keeps it, if any."""
    for module_name in ("query_api.logs.counts", "query_api.logs.reader"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        function = getattr(module, "count_logs", None)
        if callable(function):
            found: CountFunction = function
            return found
    return None


async def _transaction_at(store: Store, at_ms: int) -> str:
    """The transaction id of the last attempt at or before `at_ms` (the newest if none is)."""
    rows = await store.select(
        f"SELECT transaction_id FROM {store.table(TABLE)} "
        "WHERE attempted_at <= fromUnixTimestamp64Milli({at:Int64}, 'UTC') "
        "ORDER BY attempted_at DESC LIMIT 1",
        {"at": at_ms},
    )
    if not rows:
        rows = await store.select(
            f"SELECT transaction_id FROM {store.table(TABLE)} ORDER BY attempted_at LIMIT 1"
        )
    return str(rows[0]["transaction_id"])


async def _cursor_after(store: Store, params: Params, pages: int) -> str:
    """The next_cursor after following `pages` pages of `params`, as a client would."""
    query = parse_log_query(params)
    cursor = ""
    for page_number in range(1, pages + 1):
        page = await log_reader.read_logs(store, query)
        if page.next_cursor is None:
            raise RuntimeError(f"{params} has only {page_number} pages; generate more rows")
        cursor = page.next_cursor
        query = parse_log_query((*params, ("cursor", cursor)))
    return cursor


async def _matching_rows(store: Store, params: Params) -> int:
    """How many rows the case's filters select in all (cursor and limit aside)."""
    filters = tuple((k, v) for k, v in params if k not in ("cursor", "limit"))
    where, bound = where_clause(parse_log_query(filters))
    rows = await store.select(f"SELECT count() AS n FROM {store.table(TABLE)} {where}", bound)
    return int(rows[0]["n"])
