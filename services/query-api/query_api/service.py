"""Runs the query-api: schema and configuration republish first, then HTTP until cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from postbacks.kafka_probe import wait_for_kafka
from postbacks.ops_server import ReadinessCheck, serve_asgi
from postbacks.store import Store
from postbacks.store.opening import ready_store
from query_api.app import build_app
from query_api.config_repository import ConfigRepository
from query_api.dependencies import services_of
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.guardrails import GuardedStore
from query_api.refires.runner import RefireRunner
from query_api.refires.settings import RefireSettings
from query_api.settings import QueryApiSettings

log = logging.getLogger(__name__)


class QueryApi:
    """start() readies the store and refills `postbacks.configs`; serve() answers HTTP."""

    def __init__(self, settings: QueryApiSettings, store: Store) -> None:
        self._settings = settings
        self._store = store
        self._publisher = DispatcherPublisher(settings.kafka)
        # Bulk re-fires read their selections under the log queries' limits; the runner runs one
        # query at a time, so its own slots add at most one query to the API's.
        guarded = GuardedStore(store, settings.query_limits)
        self._refires = RefireRunner(store, guarded, self._publisher, RefireSettings())

    async def start(self) -> None:
        # The schema applied on chDB, its version checked on a server (store/opening.py).
        await ready_store(self._store, self._settings)
        await wait_for_kafka(self._settings.kafka)  # waits, or refuses naming the setting
        await self._publisher.start()
        # design §1: republish everything at start so an empty broker (the embedded one keeps
        # nothing across restarts) is refilled before dispatchers need it.
        count = await self._publisher.publish_all(await ConfigRepository(self._store).list())
        log.info("republished %d postback configurations", count)
        # Jobs a previous run left unfinished (stopped, crashed) go on from their position.
        resumed = await self._refires.resume()
        if resumed:
            log.info("resumed %d unfinished re-fire jobs", resumed)

    async def serve(self, extra_checks: Mapping[str, ReadinessCheck] | None = None) -> None:
        """Answer HTTP until cancelled; open to anyone, loudly, when no tokens are configured.

        `postbacks query-api` refuses to start without tokens, so only `dev` (and tests) get
        here without them.
        """
        settings = self._settings
        tokens = settings.token_table
        app = build_app(
            self._store,
            self._publisher,
            extra_checks,
            tokens=tokens,
            limits=settings.query_limits,
            refires=self._refires,
            api_host=settings.api_host,
            stream_limits=settings.stream_limits,
        )
        url = f"http://{settings.api_host}:{settings.api_port}"
        if tokens is None:
            log.warning(
                "NO API TOKENS: %s is OPEN, anyone who reaches it can read the log and change "
                "postback configurations; set POSTBACKS_API_TOKENS (a JSON object token -> "
                'scopes, e.g. {"<token>": ["logs:read", "postbacks:write"]}) to require tokens',
                url,
            )
        log.info("query-api on %s", url)
        serving = asyncio.ensure_future(serve_asgi(app, settings.api_host, settings.api_port))
        try:
            await asyncio.shield(serving)
        finally:
            # uvicorn stops only once every response has ended, and a live stream never ends
            # by itself: end them first (new ones are refused), then stop the server.
            await services_of(app).live.close()
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving

    async def stop(self) -> None:
        await self._refires.stop()  # before the producer it publishes with
        await self._publisher.stop()


async def run_query_api(settings: QueryApiSettings, store: Store) -> None:
    """The query-api alone (production; `postbacks query-api` has checked for tokens)."""
    api = QueryApi(settings, store)
    await api.start()
    try:
        await api.serve()
    finally:
        await api.stop()
