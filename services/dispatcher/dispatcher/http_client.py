"""The postback HTTP client: HTTP/1.1 on the event loop's sockets (http1.py), llhttp parsing.

Chosen by measurement (bench/http_clients.py, docs/libraries.md): httpx's own engine
does a few hundred requests a second on these machines; pyreqwest over ten thousand, but each
answer crosses from its Rust thread back to the loop through the GIL, and that hand-over was
the dispatcher's ceiling. On the loop's own sockets a request costs a quarter of the CPU.

What every request gets, whatever the configuration says:
- the destination guard on the address actually connected to: the name is resolved here, the
  answer judged, and the connection made to that address, so no second lookup can swap in
  another one (DNS rebinding); TLS still verifies the certificate against the name;
- a connect timeout and a total timeout (lookup, connect, headers and body together);
- the body read up to SERVER_RESPONSE_LIMIT bytes and no further: the connection is dropped;
- no redirects, no proxies from the environment, no cookies, no decompression.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ipaddress
import re
import socket
import ssl
import time
from typing import NamedTuple
from urllib.parse import quote, unquote, urlsplit

from dispatcher.failures import (
    DeliveryFailure,
    DestinationRefused,
    DnsFailure,
    RequestFailed,
    Timeout,
)
from dispatcher.guard import DestinationGuard
from dispatcher.http1 import Connection, ConnectionLost, ConnectionPool, HttpAnswer, Origin
from dispatcher.http_errors import classify
from dispatcher.resolver import Resolver

__all__ = ["USER_AGENT", "HttpAnswer", "PostbackHttpClient", "split_url"]

USER_AGENT = "Postbacks/0.1 (+https://github.com/postbacks)"
_ORIGIN = re.compile(r"[^/?#]*://[^/?#]*")  # scheme://userinfo@host:port, up to the path


class Target(NamedTuple):
    """A dict key twice per request (the approved addresses): a tuple hashes in C, a frozen
    dataclass through a generated Python __hash__ at three times the cost."""

    scheme: str
    host: str
    port: int
    where: str  # host:port as errors name it
    head: bytes  # the header lines every request to this origin starts with


def split_url(url: str) -> tuple[Target, str]:
    """The origin of a URL and the request target (path and query) sent to it. The origin is
    parsed once per distinct text: the hot path sees the same few with a different query."""
    found = _ORIGIN.match(url)
    origin_end = found.end() if found else len(url)
    path = url[origin_end:]
    if "#" in path:
        path = path.partition("#")[0]  # a fragment is the browser's, never sent
    if not path.startswith("/"):
        path = "/" + path
    # What cannot stand in a request line as it is: anything but printable ASCII, and spaces.
    # Three C calls, a third of a regex scan of the path (rendered values are encoded already).
    if not (path.isascii() and path.isprintable()) or " " in path:
        path = quote(path, safe="!#$%&'()*+,/:;=?@[]~")
    return _target_of_origin(url[:origin_end]), path


@functools.lru_cache(maxsize=4096)
def _target_of_origin(origin: str) -> Target:
    parts = urlsplit(origin)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise RequestFailed(origin, "not an http:// or https:// URL with a host")
    try:
        explicit = parts.port
    except ValueError:
        raise RequestFailed(origin, "the port is not a number from 0 to 65535") from None
    port = explicit or (443 if parts.scheme == "https" else 80)
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise DnsFailure(host, f"not a valid host name: {exc}") from None
    authority = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
    lines = [f"Host: {authority}:{explicit}" if explicit else f"Host: {authority}"]
    lines += [f"User-Agent: {USER_AGENT}", "Accept: */*"]
    if parts.username is not None:  # as browsers and curl do with user:password@host
        secret = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        lines.append(f"Authorization: Basic {base64.b64encode(secret.encode()).decode()}")
    head = "".join(line + "\r\n" for line in lines).encode()
    return Target(parts.scheme, host, port, f"{host}:{explicit}" if explicit else host, head)


def _request(
    method: str, target: Target, path: str, headers: list[tuple[bytes, bytes]], body: bytes | None
) -> bytes:
    parts = [f"{method} {path} HTTP/1.1\r\n".encode(), target.head]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    if body is None and method == "GET":
        parts.append(b"\r\n")
    else:
        body = body or b""
        parts += (b"Content-Length: %d\r\n\r\n" % len(body), body)
    return b"".join(parts)


def tls_context(extra_ca_pem: bytes | None = None) -> ssl.SSLContext:
    """The system's trusted roots (and `extra_ca_pem`, for tests and private CAs)."""
    context = ssl.create_default_context()
    if extra_ca_pem is not None:
        context.load_verify_locations(cadata=extra_ca_pem.decode())
    context.set_alpn_protocols(["http/1.1"])
    return context


class PostbackHttpClient:
    def __init__(
        self,
        guard: DestinationGuard,
        resolver: Resolver,
        *,
        max_origins: int = 2048,
        extra_ca_pem: bytes | None = None,
        approved_ttl_s: float = 30.0,
    ) -> None:
        self._guard = guard
        self._resolver = resolver
        self._pool = ConnectionPool(tls_context(extra_ca_pem), max_origins=max_origins)
        self._max_origins = max_origins
        # Approved addresses by target, until `expires`: the same few hosts get thousands of
        # postbacks a second, and resolving and judging each time dominated the hot path.
        self._approved: dict[Target, tuple[float, Origin]] = {}
        self._approved_ttl_s = approved_ttl_s
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop of the first request

    async def send(
        self,
        method: str,
        url: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes | None,
        *,
        connect_timeout_ms: int,
        timeout_ms: int,
    ) -> HttpAnswer:
        """One request; raises a DeliveryFailure subclass when no HTTP answer came."""
        target, path = split_url(url)
        loop = self._loop
        if loop is None:  # held: asyncio.get_running_loop() costs a getpid() syscall in 3.11
            loop = self._loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        try:
            origin = self._approved_origin(target)
            if origin is None:  # a lookup: bounded by the same total timeout
                async with asyncio.timeout_at(deadline):
                    origin = await self._origin(target)
            request = _request(method, target, path, headers, body)
            connection = self._pool.idle(origin)
            if connection is not None:
                try:
                    return await self._exchange(origin, connection, request, deadline)
                except ConnectionLost as lost:
                    if lost.answered:
                        raise
                    # Closed by the server while idle, just as it was reused: once more on a
                    # new connection, as browsers and HTTP libraries do. The attempt id header
                    # lets a publisher drop the rare duplicate this can make.
            connect_deadline = min(deadline, loop.time() + connect_timeout_ms / 1000)
            try:
                async with asyncio.timeout_at(connect_deadline):
                    connection = await self._pool.connect(origin)
            except TimeoutError:
                if connect_deadline < deadline:
                    raise Timeout.connecting(target.where, connect_timeout_ms) from None
                raise
            return await self._exchange(origin, connection, request, deadline)
        except DeliveryFailure:
            raise
        except Exception as exc:
            raise classify(exc, target.where, timeout_ms) from exc

    async def _exchange(
        self, origin: Origin, connection: Connection, request: bytes, deadline: float
    ) -> HttpAnswer:
        try:
            return await connection.exchange(request, deadline)
        finally:
            self._pool.release(origin, connection)

    def _approved_origin(self, target: Target) -> Origin | None:
        approved = self._approved.get(target)
        if approved is not None and approved[0] > time.monotonic():
            return approved[1]
        return None

    async def _origin(self, target: Target) -> Origin:
        address = await self._judged_address(target)
        if len(self._approved) >= self._max_origins:
            self._approved.clear()  # bounded; refilled on the next request of each host
        origin = Origin(address, target.port, target.host if target.scheme == "https" else None)
        self._approved[target] = (time.monotonic() + self._approved_ttl_s, origin)
        return origin

    async def _judged_address(self, target: Target) -> str:
        try:
            ipaddress.ip_address(target.host)
            addresses = [target.host]
        except ValueError:
            try:
                addresses = await self._resolver.resolve(target.host)
            except (socket.gaierror, UnicodeError) as exc:
                raise DnsFailure(target.host, str(exc).split("] ")[-1]) from None
            if not addresses:
                raise DnsFailure(target.host) from None
        # Every answer must pass: a name mixing public and private answers is refused outright,
        # rather than trusting that the client would pick the public one.
        for address in addresses:
            refusal = self._guard.refusal(address)
            if refusal is not None:
                raise DestinationRefused(target.host, refusal)
        return addresses[0]

    async def close(self) -> None:
        self._pool.close()
