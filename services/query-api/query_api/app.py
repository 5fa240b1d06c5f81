"""build_app: the query-api's FastAPI application, given clients built by the caller."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from postbacks.ops_server import (
    Readiness,
    ReadinessCheck,
    broker_problem,
    ops_routes,
    store_problem,
)
from postbacks.store import Store
from query_api import auth, postback_routes, stats_routes, token_routes
from query_api.auth import TokenTable
from query_api.config_repository import ConfigRepository
from query_api.cross_site import CrossSiteGuard
from query_api.dependencies import Services, attach
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.errors import install_error_handlers
from query_api.fire_testing import FireTester
from query_api.guardrails import GuardedStore, QueryLimits
from query_api.http_metrics import HttpMetrics
from query_api.live import routes as live_routes
from query_api.live.hub import LiveLog
from query_api.live.limits import StreamLimits
from query_api.logs import histogram_routes
from query_api.logs import routes as log_routes
from query_api.pages import mount_pages
from query_api.postback_service import PostbackService
from query_api.refires import routes as refire_routes
from query_api.refires.runner import RefireRunner
from query_api.refires.settings import RefireSettings


def build_app(
    store: Store,
    publisher: DispatcherPublisher,
    extra_checks: Mapping[str, ReadinessCheck] | None = None,
    *,
    tokens: TokenTable | None = None,
    limits: QueryLimits | None = None,
    refires: RefireRunner | None = None,
    api_host: str | None = None,
    stream_limits: StreamLimits | None = None,
) -> FastAPI:
    """The API. `tokens` None serves it open (only `postbacks dev` does); see auth.py. Open, it
    refuses cross-site changes and DNS rebinding (cross_site.py); `api_host`, the host it is
    served at, is then accepted in the Host header besides the loopback names and addresses.

    `refires` runs bulk re-fire jobs; QueryApi passes the one it started (and resumed). Without
    it the app makes its own, which starts working at the first job.

    `stream_limits` bound the live view (/api/v1/logs/stream); its streams end with
    `services_of(app).live.close()`, which the server must call before it stops (QueryApi.serve).

    `extra_checks` are what /readyz asks besides ClickHouse and Kafka (in `postbacks dev`: the
    log-writer and the dispatcher), by the name /readyz reports them under.

    /healthz, /readyz, /metrics, /docs and /openapi.json are always open.
    """
    limits = limits or QueryLimits()
    app = FastAPI(
        title="Postbacks",
        version="0.1.0",
        summary="Postback configurations and the log of every postback attempt.",
    )
    log_store = GuardedStore(store, limits)
    services = Services(
        log_store=log_store,
        lookup_store=log_store.for_lookups(),
        limits=limits,
        postbacks=PostbackService(ConfigRepository(store), publisher),
        fire_tester=FireTester(publisher, store),
        publisher=publisher,
        refires=refires or RefireRunner(store, log_store, publisher, RefireSettings()),
        live=LiveLog(log_store, stream_limits or StreamLimits()),
    )
    attach(app, services)

    app.router.routes.extend(ops_routes(_readiness(store, publisher, extra_checks)))
    # Dependencies run in order: the token first, so a request without one learns only that.
    for router, access in (
        # Before the log routes, whose /api/v1/logs/{attempt_id} would take "histogram".
        (histogram_routes.router, auth.LOGS),
        (live_routes.router, auth.LOGS),  # and "stream"
        (log_routes.router, auth.LOGS),
        (stats_routes.router, auth.LOGS),
        (postback_routes.router, auth.POSTBACKS),
        (refire_routes.router, refire_routes.REFIRES),
        (token_routes.router, token_routes.TOKEN),
    ):
        app.include_router(
            router, dependencies=auth.required(tokens, access), responses=auth.RESPONSES
        )
    # The Postbacks and Postbacks Logs pages at / (static files; their API calls carry tokens).
    mount_pages(app)
    install_error_handlers(app)
    # Only without tokens: with them another site's page cannot send the bearer token (a
    # cross-site Authorization header needs a CORS preflight this API never grants), and behind
    # a TLS proxy the scheme and Host seen here are the proxy's, which would refuse the pages.
    if tokens is None:
        app.add_middleware(CrossSiteGuard, hosts=[api_host] if api_host else [])
    app.add_middleware(HttpMetrics, routes=app.router.routes)  # outermost: counts all answers
    return app


def _readiness(
    store: Store,
    publisher: DispatcherPublisher,
    extra_checks: Mapping[str, ReadinessCheck] | None,
) -> Readiness:
    async def broker() -> str | None:
        if not publisher.started:
            return "Kafka producer for configurations not started"
        return await broker_problem(publisher.producer)

    async def store_ready() -> str | None:
        # The store itself, not the guarded one: readiness must not queue for a log-query slot.
        return await store_problem(store)

    checks: dict[str, ReadinessCheck] = {"store": store_ready, "broker": broker}
    checks.update(extra_checks or {})
    return Readiness(checks)
