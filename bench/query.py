"""Scenario `query`: how fast GET /api/v1/logs answers over a large synthetic attempt log.

1. Generate --rows attempts inside chDB (bench/query_data.py) into a fresh database, then
   OPTIMIZE TABLE ... FINAL so the reads see merged parts, as a table some hours old would be.
2. Serve the real query-api on 127.0.0.1 in this process (bench/api_server.py).
3. Time each query (bench/query_cases.py) through the API and directly (the same reader on the
   same store), alternately; then requests/s at --concurrency for one query.
4. Print a table against the targets of issue 6 and write bench/results/query.json, with where
   the time goes for every query (rows read, EXPLAIN indexes = 1).

The targets are reported, not enforced: the run exits 0 whatever they say.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from bench import query_output
from bench.api_server import RunningApi, serve_query_api
from bench.query_cases import COUNT, Case, api_call, count_function, direct_call, pick_cases
from bench.query_data import Shape, insert_sql
from bench.query_explain import diagnose, read_floor_ms
from bench.query_output import CaseResult, Load
from bench.report import machine_info, write_json
from bench.scenario import Scenario
from bench.timing import Call, Latency, Rejected, Throughput, closed_loop, measure, measure_pair
from postbacks.store.chdb_backend import EmbeddedStore, shared_session
from postbacks.store.schema import apply_schema
from query_api.logs.reader import TABLE, LogStore

DATABASE = "bench_query"
PAGE_LIMIT = 50
# A reused data directory must still lie wholly inside the API's default 24 h window.
_MAX_REUSE_AGE_H = 23.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("query scenario")
    group.add_argument("--rows", type=_positive, default=10_000_000, help="attempts to generate")
    group.add_argument("--requests", type=_positive, default=200, help="timed requests per query")
    group.add_argument("--warmup", type=int, default=10, help="untimed requests per query first")
    group.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="seconds per query: a slow one stops early, after 20 timed requests at least",
    )
    group.add_argument("--concurrency", type=_positive, default=16, help="clients for requests/s")
    group.add_argument("--rps-seconds", type=float, default=10.0, help="length of the rps run")
    group.add_argument("--deep-pages", type=_positive, default=20, help="pages to follow first")
    group.add_argument(
        "--data-dir",
        type=Path,
        help="keep the chDB data here and reuse it on the next run if it holds --rows rows "
        f"younger than {_MAX_REUSE_AGE_H:g} h (default: a temporary directory, removed after)",
    )


def run(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    figures = uvloop.run(_run(args))
    path = write_json("query", figures, args.results_dir)
    print(f"\nfigures written to {path}")


SCENARIO = Scenario(
    name="query",
    summary="GET /api/v1/logs latency (API and direct) and requests/s over N synthetic attempts",
    add_arguments=add_arguments,
    run=run,
)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    started = datetime.now(UTC)
    notes = [
        "client and server share one process, one event loop and the machine's "
        f"{os.cpu_count()} cores (chDB allows one process per data directory)",
        "direct = parse_log_query + the route's reader on the same store: the API minus HTTP/JSON",
    ]
    with _data_dir(args.data_dir) as data_dir:
        store = EmbeddedStore(data_dir, DATABASE)
        print(f"query: {args.rows:,} rows in {data_dir} ...", flush=True)
        load = await _load(store, args.rows, reuse=args.data_dir is not None)
        print(query_output.load_line(load), flush=True)
        now_ms = int(time.time() * 1000)
        cases = await pick_cases(store, now_ms, args.deep_pages, PAGE_LIMIT)
        async with serve_query_api(store) as api:
            notes.extend(api.notes)
            floor, results, throughput = await _time_queries(api, cases, args, notes)
            server_errors = dict(api.server_errors.counts)
            window = api.default_window
            if window is not None:
                notes.append(
                    f"the API adds from = now - {window} to a query without 'from'; the direct "
                    "calls add the same (every generated row lies inside it)"
                )
        session = shared_session(data_dir)
        for result in results:
            if result.direct is not None and result.direct.samples:
                make_call = functools.partial(direct_call, case=result.case, window=window)
                result.diagnosis = await diagnose(session, store, make_call)
            result.read_floor_ms = await _read_floor(session, store, result)
        session.close()
    print()
    print(query_output.render(load, results, throughput, cases[0], server_errors, notes))
    return {
        "scenario": "query",
        "started_at": started.isoformat(),
        "machine": machine_info(),
        "settings": {k: str(v) for k, v in vars(args).items() if k != "scenarios"},
        "data": asdict(load),
        "cases": [r.as_json() for r in results],
        "http_floor": asdict(floor),
        "server_errors": server_errors,
        "throughput": {"query": cases[0].label, "answers_verified": True, **asdict(throughput)},
        "notes": notes,
    }


async def _read_floor(session: Any, store: EmbeddedStore, result: CaseResult) -> float | None:
    """For a contains case, the engine's time to merely read its column over the same window:
    what a scan cannot beat (a query an index serves can)."""
    if result.case.kind != "contains" or result.diagnosis is None:
        return None
    column = result.case.params[0][0].removesuffix("__contains")
    from_ms = int(result.diagnosis.params["from_ms"])
    return await read_floor_ms(session, store.table(TABLE), column, from_ms)


async def _time_queries(
    api: RunningApi, cases: list[Case], args: argparse.Namespace, notes: list[str]
) -> tuple[Latency, list[query_output.CaseResult], Throughput]:
    """The HTTP floor, each case through the API and directly, then requests/s for the first."""
    # aiohttp, not httpx: client and server share this process and its cores, so the client's
    # own cost per request is counted as API time. httpx spends about 1 ms a request here
    # (`python -m bench http-clients`), a third of the overhead measured with it; a caller on
    # another machine does not cost the API anything. Generous timeouts: a slow answer is a
    # figure to report, not a client error.
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=120.0, connect=30.0)
    async with aiohttp.ClientSession(api.base_url, connector=connector, timeout=timeout) as client:
        # What any request costs here before the log is touched: client, uvicorn, routing.
        floor = await measure(_healthz(client), args.warmup, args.requests)
        notes.append(
            f"HTTP floor, GET /healthz through the same client and server: "
            f"p50 {floor.p50_ms:.1f} ms, p99 {floor.p99_ms:.1f} ms"
        )
        results = []
        for case in cases:
            if case.path == COUNT and not api.has_route(COUNT):
                notes.append(f"{COUNT} is not served by this build: count skipped")
                results.append(query_output.CaseResult.skipped(case, "no count route"))
                continue
            if case.path == COUNT and count_function() is None:
                notes.append("no count_logs in query_api: count timed through the API only")
            print(f"  timing {case.label} ...", flush=True)
            api_latency, direct_latency = await measure_pair(
                api_call(client, case),
                _direct_or_refusal(api.read_store, case, api.default_window),
                args.warmup,
                args.requests,
                budget_s=args.budget,
            )
            results.append(query_output.CaseResult(case, api_latency, direct_latency))
        print(f"  requests/s at concurrency {args.concurrency} ...", flush=True)
        throughput = await closed_loop(
            api_call(client, cases[0], verify=True), args.concurrency, args.rps_seconds
        )
    return floor, results, throughput


def _healthz(client: aiohttp.ClientSession) -> Call:
    async def call() -> object:
        async with client.get("/healthz") as response:
            body = await response.read()
        if response.status != 200:
            raise Rejected(f"HTTP {response.status} from /healthz")
        return body

    return call


def _direct_or_refusal(store: LogStore, case: Case, window: timedelta | None) -> Call:
    try:
        return direct_call(store, case, window)
    except LookupError as exc:
        message = str(exc)

        async def refuse() -> object:
            raise Rejected(message)

        return refuse


async def _load(store: EmbeddedStore, rows: int, reuse: bool) -> Load:
    table = store.table(TABLE)
    if reuse and (existing := await _existing(store, rows)) is not None:
        return existing
    await store.execute(f"DROP DATABASE IF EXISTS {store.database} SYNC")
    await apply_schema(store)
    start = time.perf_counter()
    shape = Shape(rows=rows, now_ms=int(time.time() * 1000), threads=os.cpu_count() or 1)
    await store.execute(insert_sql(table, shape))
    loaded = time.perf_counter()
    # One merged part per month partition: what a table looks like once background merges
    # have caught up, and the layout the read-in-order plans are meant for.
    await store.execute(f"OPTIMIZE TABLE {table} FINAL")
    optimized = time.perf_counter()
    return await _describe(store, False, loaded - start, optimized - loaded)


async def _existing(store: EmbeddedStore, rows: int) -> Load | None:
    found = await store.select(
        "SELECT count() AS n FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        {"db": store.database, "t": TABLE},
    )
    if not found[0]["n"]:
        return None
    stats = await store.select(
        "SELECT count() AS n, dateDiff('second', min(attempted_at), now64(3)) / 3600 AS age_h "
        f"FROM {store.table(TABLE)}"
    )
    if stats[0]["n"] != rows or stats[0]["age_h"] > _MAX_REUSE_AGE_H:
        return None
    return await _describe(store, True, 0.0, 0.0)


async def _describe(store: EmbeddedStore, reused: bool, load_s: float, optimize_s: float) -> Load:
    parts = await store.select(
        "SELECT count() AS parts, sum(rows) AS rows, sum(bytes_on_disk) AS disk, "
        "sum(data_uncompressed_bytes) AS raw FROM system.parts "
        "WHERE database = {db:String} AND table = {t:String} AND active",
        {"db": store.database, "t": TABLE},
    )
    span = await store.select(
        f"SELECT min(attempted_at) AS first, max(attempted_at) AS last FROM {store.table(TABLE)}"
    )
    p = parts[0]
    return Load(
        rows=int(p["rows"]),
        reused=reused,
        load_s=load_s,
        optimize_s=optimize_s,
        parts=int(p["parts"]),
        bytes_on_disk=int(p["disk"]),
        bytes_uncompressed=int(p["raw"]),
        span=f"{span[0]['first']} .. {span[0]['last']}",
    )


@contextlib.contextmanager
def _data_dir(kept: Path | None) -> Iterator[Path]:
    if kept is not None:
        yield kept
        return
    with tempfile.TemporaryDirectory(prefix="postbacks-bench-query-") as temporary:
        yield Path(temporary)


def _positive(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value
