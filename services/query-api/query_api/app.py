"""build_app: the query-api's FastAPI application, given clients built by the caller."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from postbacks.ops_server import ReadinessCheck, ops_routes
from postbacks.store import Store
from query_api import log_routes, postback_routes
from query_api.config_repository import ConfigRepository
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.errors import install_error_handlers
from query_api.fire_testing import FireTester
from query_api.postback_service import PostbackService


def build_app(
    store: Store, publisher: DispatcherPublisher, extra_checks: Sequence[ReadinessCheck] = ()
) -> FastAPI:
    app = FastAPI(
        title="Postbacks",
        version="0.1.0",
        summary="Postback configurations and the log of every postback attempt.",
    )
    app.state.store = store
    app.state.postbacks = PostbackService(ConfigRepository(store), publisher)
    app.state.fire_tester = FireTester(publisher, store)

    async def ready() -> str | None:
        try:
            await store.ping()
        except Exception as exc:
            return f"ClickHouse store not answering: {exc}"
        if not publisher.started:
            return "Kafka producer for configurations not started"
        for check in extra_checks:
            problem = await check()
            if problem is not None:
                return problem
        return None

    app.router.routes.extend(ops_routes(ready))
    app.include_router(log_routes.router)
    app.include_router(postback_routes.router)
    install_error_handlers(app)
    return app
