"""The operations endpoints every service serves: /healthz, /readyz and /metrics.

The query-api mounts these routes in its own app; the dispatcher and the log-writer, which have no
other HTTP surface, serve them alone on a port of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

# A readiness check answers None when ready, or a sentence saying what is not ready yet.
ReadinessCheck = Callable[[], Awaitable[str | None]]


def ops_routes(ready: ReadinessCheck, registry: CollectorRegistry = REGISTRY) -> list[Route]:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        problem = await ready()
        if problem is None:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready", "reason": problem}, status_code=503)

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
async def ops_endpoints(ready: ReadinessCheck, port: int, host: str) -> AsyncIterator[None]:
    """Serve the operations endpoints alone while the block runs (dispatcher, log-writer)."""
    serving = asyncio.create_task(
        serve_asgi(Starlette(routes=ops_routes(ready)), host, port), name=f"ops-{port}"
    )
    try:
        yield
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
