"""Serving an app on loopback inside a test, for clients that need a real socket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable

import httpx
from starlette.types import ASGIApp

from postbacks.embedded_broker import free_port
from postbacks.ops_server import serve_asgi


async def wait_healthy(url: str, timeout_s: float = 10) -> None:
    async with httpx.AsyncClient(base_url=url, trust_env=False) as probe:
        for _ in range(int(timeout_s / 0.05)):
            with contextlib.suppress(httpx.ConnectError):
                await probe.get("/healthz")
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url}/healthz did not answer in {timeout_s}s")


@contextlib.asynccontextmanager
async def running(server: Awaitable[None], url: str) -> AsyncIterator[str]:
    """Run `server` (serving at `url`) as a task while the block runs."""
    task = asyncio.ensure_future(server)
    try:
        await wait_healthy(url)
        yield url
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def served(app: ASGIApp) -> contextlib.AbstractAsyncContextManager[str]:
    """`async with served(app) as url:` the app on a free loopback port."""
    port = free_port()
    return running(serve_asgi(app, "127.0.0.1", port), f"http://127.0.0.1:{port}")
