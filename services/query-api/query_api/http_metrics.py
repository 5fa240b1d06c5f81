"""The query-api's HTTP metrics: requests by route and status, and latency.

Labelled by the route's path template (`/api/v1/logs/{attempt_id}`), never the raw path, so the
number of series stays bounded whatever paths clients send: a path no route matches is
`route="unmatched"`, a method outside HTTP's usual ones `method="OTHER"`.

A pure ASGI middleware (BaseHTTPMiddleware runs each request through extra tasks and memory
streams). A request is timed until the app returns, that is until the last byte of a streamed
answer (the CSV export) has been sent; its status is the one of `http.response.start`, or 500
when the app raised before starting a response (ServerErrorMiddleware, outside, answers 500).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import Counter, Histogram
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "postbacks_query_api_requests_total",
    "HTTP requests answered by the query-api, by method, route (path template) and status",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "postbacks_query_api_request_seconds",
    "Seconds from a request's arrival to the end of its response (a stream's last byte)",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_label(scope: Scope, request: Scope, routes: Sequence[BaseRoute]) -> str:
    """The path template of the route that took the request, `scope` as the app left it.

    FastAPI's router puts its own routes in the scope (`route`), but not plain Starlette ones
    (/metrics, /healthz, ...) or mounts (/static): those are found again among `routes`, by the
    request's path as it arrived (`request`). A mount's template is its prefix and `/{path}`.
    """
    template = getattr(scope.get("route"), "path_format", None)
    if isinstance(template, str) and template:
        return template
    for route in routes:
        template = getattr(route, "path_format", None)
        if isinstance(template, str) and template and route.matches(request)[0] != Match.NONE:
            return template
    return UNMATCHED


class HttpMetrics:
    """Counts and times every HTTP request; other ASGI scopes pass through untouched.

    `routes` are the app's (`app.router.routes`), for the routes its router does not name in
    the scope; without them those requests count as unmatched.
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # What routing reads, as it arrived: routing changes the scope (a mount's root_path).
        request = {
            "type": "http",
            "method": scope["method"],
            "path": scope["path"],
            "root_path": scope.get("root_path", ""),
        }
        status = 500  # unless the app starts a response
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            route = route_label(scope, request, self.routes)
            REQUESTS.labels(method, route, str(status)).inc()
            REQUEST_SECONDS.labels(method, route).observe(elapsed)
