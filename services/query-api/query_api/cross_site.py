"""Cross-site requests and DNS rebinding, refused while the API runs without tokens.

Without POSTBACKS_API_TOKENS (only `postbacks dev`) nothing but the address keeps a request out,
and the user's browser is inside it: any page it has open may send a form or a fetch to
http://127.0.0.1:8080 (sending needs no permission; only reading the answer does), and a name the
page's owner controls may be re-pointed at 127.0.0.1 once the page is loaded (DNS rebinding),
which makes that page the API's own origin. So, without tokens, this middleware refuses with 403:

- a request whose Host header is not a loopback name or address, nor the address the request
  reached: a rebound name can only show up there;
- a request that may change something (any method but GET, HEAD and OPTIONS) sent by a page on
  another site: an Origin other than the request's own scheme://host:port, or
  `Sec-Fetch-Site: cross-site` or `same-site`.

The pages fetch on their own origin (a matching Origin); curl, `postbacks apply` and `postbacks
refire` send neither header, and pass. Reads from another site are let through: they change
nothing, and without CORS headers the other page cannot read the answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from query_api.auth import TOKENS_VARIABLE
from query_api.errors import Forbidden, error_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"localhost"})
# What Sec-Fetch-Site says of a request from another site; "same-origin" and "none" (typed in
# the address bar, a bookmark) are the user's own.
OTHER_SITE = frozenset({"cross-site", "same-site"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]  # scheme, host, port


class CrossSiteGuard:
    """ASGI middleware: the two refusals above, for an API served without tokens.

    `hosts`: names besides the loopback ones that the API is reached at (POSTBACKS_API_HOST).
    """

    def __init__(self, app: ASGIApp, *, hosts: Collection[str] = ()) -> None:
        self.app = app
        self._names = LOOPBACK_NAMES | {host.lower() for host in hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                await error_response(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> Forbidden | None:
        headers = Headers(scope=scope)
        host = headers.get("host")
        if host is not None and not self._served_at(host, scope):
            return _rebinding(host, scope)
        if scope["method"] in SAFE_METHODS:
            return None
        return _cross_site(headers, scope)

    def _served_at(self, host: str, scope: Scope) -> bool:
        name = _hostname(host)
        if name is None:
            return False
        if name in self._names:
            return True
        server = scope.get("server")
        # The address the connection reached (POSTBACKS_API_HOST, or the interface's address
        # when that is 0.0.0.0): an address cannot be rebound, only a name can.
        if server is not None and name == str(server[0]).lower():
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False


def _rebinding(host: str, scope: Scope) -> Forbidden:
    server = scope.get("server")
    port = f":{server[1]}" if server and server[1] is not None else ""
    return Forbidden(
        f"the Host {host!r} is not a name of this machine: without {TOKENS_VARIABLE} the API "
        "answers only at localhost or a loopback address (a page whose name was pointed at this "
        f"machine could read and change it: DNS rebinding); open http://127.0.0.1{port} "
        f"instead, or set {TOKENS_VARIABLE}"
    )


def _cross_site(headers: Headers, scope: Scope) -> Forbidden | None:
    """The refusal of a change sent by a page on another site, None for anyone else's."""
    host = headers.get("host")
    own = _origin(f"{scope['scheme']}://{host}") if host else None
    origin = headers.get("origin")
    site = headers.get("sec-fetch-site")
    if origin is not None and (own is None or _origin(origin) != own):
        sender = f"the page at {origin}"
    elif site in OTHER_SITE:
        sender = f"a page on another site (Sec-Fetch-Site: {site})"
    else:
        return None
    return Forbidden(
        f"{scope['method']} {scope['path']} from {sender} is refused: without {TOKENS_VARIABLE} "
        "only the API's own pages and clients that send no Origin (curl, `postbacks apply`) may "
        "change anything"
    )


def _hostname(host: str) -> str | None:
    """The name or address in a Host header ("[::1]:8080" -> "::1"), lowercased."""
    try:
        return urlsplit(f"//{host}").hostname
    except ValueError:  # an unclosed "[" or the like
        return None


def _origin(url: str) -> Origin | None:
    """scheme, host and port of `url`, the port filled in; None for "null" or anything odd."""
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:  # a port that is not a number, or out of range
        return None
    if not parts.hostname or port is None:
        return None
    return parts.scheme.lower(), parts.hostname, port
