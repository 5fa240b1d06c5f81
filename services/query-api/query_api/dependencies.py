"""The services the routes work with, handed to them as typed FastAPI dependencies.

build_app builds one Services and keeps it on the app; a route names what it needs
(`store: LogReads`) instead of reaching into `request.app.state`, so mypy checks the use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from query_api.confinement import Confinement
from query_api.dispatcher_publisher import DispatcherPublisher
from query_api.fire_testing import FireTester
from query_api.guardrails import GuardedStore, QueryLimits
from query_api.live.hub import LiveLog
from query_api.postback_service import PostbackService
from query_api.refires.runner import RefireRunner


@dataclass(frozen=True, slots=True)
class Services:
    # The store the log and stats routes read: each query in a slot, under the limits.
    log_store: GuardedStore
    # Single-row reads by id, which must not queue behind the long log queries.
    lookup_store: GuardedStore
    limits: QueryLimits
    postbacks: PostbackService
    fire_tester: FireTester
    publisher: DispatcherPublisher
    refires: RefireRunner
    # The live view's clients and its one poller (query_api/live/).
    live: LiveLog


def attach(app: FastAPI, services: Services) -> None:
    app.state.services = services


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def _services(request: Request) -> Services:
    return services_of(request.app)


def _log_store(request: Request) -> GuardedStore:
    return services_of(request.app).log_store


def _lookup_store(request: Request) -> GuardedStore:
    return services_of(request.app).lookup_store


def _limits(request: Request) -> QueryLimits:
    return services_of(request.app).limits


def _postbacks(request: Request) -> PostbackService:
    return services_of(request.app).postbacks


def _fire_tester(request: Request) -> FireTester:
    return services_of(request.app).fire_tester


def _refires(request: Request) -> RefireRunner:
    return services_of(request.app).refires


def _live(request: Request) -> LiveLog:
    return services_of(request.app).live


AllServices = Annotated[Services, Depends(_services)]
LogReads = Annotated[GuardedStore, Depends(_log_store)]
Lookups = Annotated[GuardedStore, Depends(_lookup_store)]
Limits = Annotated[QueryLimits, Depends(_limits)]
Postbacks = Annotated[PostbackService, Depends(_postbacks)]
Tester = Annotated[FireTester, Depends(_fire_tester)]
Refires = Annotated[RefireRunner, Depends(_refires)]
Live = Annotated[LiveLog, Depends(_live)]


async def _confinement(request: Request) -> Confinement:
    # check_token (auth.required), a router dependency, runs first and leaves the grant here.
    # None would be a router without auth.required: refuse rather than serve it unconfined.
    grant = getattr(request.state, "grant", None)
    if grant is None:
        raise RuntimeError(f"{request.url.path}: no grant; include its router with auth.required")
    confinement: Confinement = grant.confinement
    if not confinement.confined:
        return confinement
    # The configurations inside, read per request: one small FINAL-free read of postback_configs.
    owners = await services_of(request.app).postbacks.repository.owners()
    return confinement.with_postbacks(owners)


# What the token of the request may see and change (query_api/confinement.py).
Confined = Annotated[Confinement, Depends(_confinement)]
