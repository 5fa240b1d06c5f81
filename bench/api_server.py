"""The real query-api, served by uvicorn on 127.0.0.1 inside the benchmark's own process.

chDB lets one process use a data directory, so the API has to run where the data was loaded;
the benchmark's HTTP client runs in the same process and on the same event loop, which is
the price of measuring the embedded engine (the report says so). The app is built by
`query_api.app.build_app` exactly as the service builds it, with a DispatcherPublisher on the
embedded broker, so readiness and every middleware the app installs are the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from postbacks.embedded_broker import EmbeddedBroker, free_port
from postbacks.kafka_admin import ensure_topics
from postbacks.ops_server import serve_asgi
from postbacks.store import Store
from query_api.app import build_app
from query_api.dependencies import services_of
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.logs.reader import LogStore

HOST = "127.0.0.1"


class ServerErrors(logging.Handler):
    """Counts the exceptions the server logs for failed requests, by type and first line.

    Installed instead of uvicorn's console handler while the benchmark runs: a traceback per
    failed request would bury the table, and the tally is what the report needs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        text = f"{type(exc).__name__}: {exc}" if exc else record.getMessage()
        self.counts[(text.splitlines() or [""])[0][:200]] += 1


@dataclass
class RunningApi:
    base_url: str
    app: FastAPI
    # What the benchmark had to decide about build_app's arguments, for the report.
    notes: list[str] = field(default_factory=list)
    server_errors: ServerErrors = field(default_factory=ServerErrors)

    @property
    def read_store(self) -> LogStore:
        """The store the log routes read (the app may wrap the real one in guardrails)."""
        return services_of(self.app).log_store

    @property
    def default_window(self) -> timedelta | None:
        """The time window the app gives a log query without `from`, if it has one."""
        return services_of(self.app).limits.default_window

    def has_route(self, path: str) -> bool:
        """Whether the app serves `path` (as its OpenAPI document lists it)."""
        return path in self.app.openapi().get("paths", {})


@contextlib.asynccontextmanager
async def serve_query_api(store: Store) -> AsyncIterator[RunningApi]:
    """Serve the query-api over `store` while the block runs; yields where it listens."""
    with EmbeddedBroker() as broker:
        await ensure_topics(broker.kafka)
        publisher = DispatcherPublisher(broker.kafka)
        await publisher.start()
        try:
            app, notes = _build(store, publisher)
            port = free_port()
            serving = asyncio.create_task(serve_asgi(app, HOST, port), name="bench-query-api")
            try:
                base_url = f"http://{HOST}:{port}"
                await _until_ready(base_url, serving)
                running = RunningApi(base_url, app, notes)
                # After start-up: uvicorn's logging config replaces the handlers of its loggers.
                with _tallied(logging.getLogger("uvicorn.error"), running.server_errors):
                    yield running
            finally:
                serving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await serving
        finally:
            await publisher.stop()


@contextlib.contextmanager
def _tallied(logger: logging.Logger, handler: logging.Handler) -> Iterator[None]:
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _build(store: Store, publisher: DispatcherPublisher) -> tuple[FastAPI, list[str]]:
    """build_app(store, publisher, ...), whatever keyword arguments it has grown meanwhile.

    Arguments with defaults keep them (the defaults are what a deployment gets); a required
    token argument gets None, the open mode of `postbacks dev`; any other required argument
    stops the run with a message saying where to teach the benchmark about it.
    """
    kwargs: dict[str, Any] = {}
    notes: list[str] = []
    skipped = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    for parameter in list(inspect.signature(build_app).parameters.values())[2:]:
        if parameter.kind in skipped:
            continue
        if parameter.default is not inspect.Parameter.empty:
            notes.append(f"build_app {parameter.name} left at its default ({parameter.default!r})")
        elif "token" in parameter.name:
            kwargs[parameter.name] = None
            notes.append(f"build_app({parameter.name}=None): open mode, no token checks")
        else:
            raise RuntimeError(
                f"query_api.app.build_app now requires {parameter.name!r}; "
                "teach bench/api_server.py what to pass"
            )
    return build_app(store, publisher, **kwargs), notes


async def _until_ready(base_url: str, serving: asyncio.Task[None], timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base_url) as client:
        while time.monotonic() < deadline:
            if serving.done():
                serving.result()  # raises what stopped the server
                raise RuntimeError("the query-api stopped before answering")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"the query-api at {base_url} was not ready within {timeout_s} s")
