"""The operations endpoints every service serves: /healthz, /readyz and /metrics.

The query-api mounts these routes in its own app; the dispatcher and the log-writer, which have no
other HTTP surface, serve them alone on a port of their own.

/readyz asks each dependency again (not just whether it was reached at start): Kafka by a
metadata request on the service's own producer, ClickHouse by a lookup of the log table. It
answers 200 `{"status": "ready", "checks": {name: "ok"}}` or 503 with `not_ready` (the names)
and `reason` (each name with why), so an orchestrator's log says what to fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Protocol

import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from postbacks.store.protocol import Params, Row

# A readiness check answers None when ready, or a sentence saying what is not ready and why.
ReadinessCheck = Callable[[], Awaitable[str | None]]

CHECK_TIMEOUT_S = 2.0
CACHE_S = 1.0


class Readiness:
    """The named checks behind /readyz: run together, each under a timeout, answer cached.

    A load balancer may ask every few milliseconds; that must not become load on Kafka and
    ClickHouse. So concurrent requests share one round of checks, and its answer serves every
    request for `cache_s` after it.
    """

    def __init__(
        self,
        checks: Mapping[str, ReadinessCheck],
        *,
        timeout_s: float = CHECK_TIMEOUT_S,
        cache_s: float = CACHE_S,
    ) -> None:
        self._checks = dict(checks)
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._lock = asyncio.Lock()
        self._answer: dict[str, str | None] = {}
        self._answered_at = -math.inf

    async def check(self) -> dict[str, str | None]:
        """Each check's name with None (ready) or why it is not ready."""
        async with self._lock:
            if time.monotonic() - self._answered_at >= self._cache_s:
                names = list(self._checks)
                answers = await asyncio.gather(*(self._run(self._checks[n]) for n in names))
                self._answer = dict(zip(names, answers, strict=True))
                self._answered_at = time.monotonic()
            return self._answer

    async def _run(self, check: ReadinessCheck) -> str | None:
        try:
            return await asyncio.wait_for(check(), self._timeout_s)
        except TimeoutError:
            return f"no answer within {self._timeout_s:g} s"
        except Exception as exc:  # a check that breaks says not ready, never a 500
            return f"check failed: {exc!r}"


BROKER_SILENT = "Kafka did not answer a metadata request"  # readiness wording, every client


async def broker_problem(producer: AIOKafkaProducer) -> str | None:
    """None when the broker answers a metadata request on the producer's own connections."""
    try:
        await producer.client.fetch_all_metadata()
    except KafkaError as exc:
        return f"{BROKER_SILENT}: {exc}"
    return None


class _TableLookup(Protocol):
    @property
    def database(self) -> str: ...

    async def select(self, sql: str, params: Params | None = None) -> list[Row]: ...


async def store_problem(store: _TableLookup, table: str = "postback_attempts") -> str | None:
    """None when ClickHouse answers and the database still holds `table`.

    A bare `SELECT 1` would call a store ready whose database was dropped under it, where
    every insert and query fails.
    """
    try:
        rows = await store.select(
            "SELECT count() AS found FROM system.tables "
            "WHERE database = {db:String} AND name = {t:String}",
            {"db": store.database, "t": table},
        )
    except Exception as exc:
        return f"ClickHouse did not answer: {exc}"
    if not rows or not int(rows[0]["found"]):
        return f"ClickHouse answers, but table {store.database}.{table} does not exist"
    return None


def ops_routes(readiness: Readiness, registry: CollectorRegistry = REGISTRY) -> list[Route]:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        answers = await readiness.check()
        failing = {name: problem for name, problem in answers.items() if problem is not None}
        checks = {name: problem or "ok" for name, problem in answers.items()}
        if not failing:
            return JSONResponse({"status": "ready", "checks": checks})
        body = {
            "status": "not ready",
            "not_ready": list(failing),
            "reason": "; ".join(f"{name}: {problem}" for name, problem in failing.items()),
            "checks": checks,
        }
        return JSONResponse(body, status_code=503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]


MAX_REQUEST_HEAD = 128 * 1024


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Signals belong to the process's runner (postbacks_cli.lifecycle), which cancels the
        # services in order; uvicorn must not take SIGTERM/SIGINT for itself.
        yield


async def serve_asgi(app: ASGIApp, host: str, port: int) -> None:
    """Serve an ASGI app until cancelled; on cancel, close connections and the socket first."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        # Log filters may carry long values (a URL, a server response): h11's default of 16 KiB
        # for the request line and headers would refuse a 10 KB value once percent-encoded.
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD,
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(), name=f"http-{port}")
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        await serving
        raise


@contextlib.asynccontextmanager
async def ops_endpoints(readiness: Readiness, port: int, host: str) -> AsyncIterator[None]:
    """Serve the operations endpoints alone while the block runs (dispatcher, log-writer)."""
    serving = asyncio.create_task(
        serve_asgi(Starlette(routes=ops_routes(readiness)), host, port), name=f"ops-{port}"
    )
    try:
        yield
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
