"""The postback HTTP client: pyreqwest (Rust's reqwest/hyper) behind a small interface of ours.

Chosen by measurement (bench/http_clients.py, README "Libraries and why"): httpx's own engine
does a few hundred requests a second on these machines, pyreqwest over ten thousand.

What every request gets, whatever the configuration says:
- the destination guard on the address actually connected to: the name is resolved here, the
  answer judged, and a reqwest client pinned to that address (`ClientBuilder.resolve`) makes
  the connection, so no second lookup can swap in another address (DNS rebinding);
- a connect timeout and a total timeout (connect, headers and body together);
- the body read up to SERVER_RESPONSE_LIMIT bytes and no further: the connection is dropped;
- no redirects, no proxies from the environment, no cookies, no decompression.

Pinned clients are kept per (host, address, port, connect timeout) in a bounded LRU map; each
keeps its own keep-alive pool, which is what connection reuse needs anyway.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from urllib.parse import urlsplit

from pyreqwest.client import Client, ClientBuilder
from pyreqwest.exceptions import PyreqwestError
from pyreqwest.response import ResponseBodyReader

from dispatcher.failures import (
    DeliveryFailure,
    DestinationRefused,
    DnsFailure,
    RequestFailed,
    Timeout,
)
from dispatcher.guard import DestinationGuard
from dispatcher.pyreqwest_errors import classify
from dispatcher.resolver import Resolver
from postbacks.attempts import SERVER_RESPONSE_LIMIT, TRUNCATION_MARK

USER_AGENT = "Postbacks/0.1 (+https://github.com/postbacks)"


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    reason: str
    location: str | None
    body: str  # at most SERVER_RESPONSE_LIMIT bytes of it, marked when cut
    retry_after: str | None = None  # the Retry-After header of a failed answer (retry_policy.py)


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    where: str  # host:port as errors name it


def target_of(url: str) -> Target:
    """Scheme, host and port of a URL; parsed once per distinct origin (the hot path sees the
    same few origins with a different query each time)."""
    scheme_end = url.find("://")
    origin_end = len(url)
    for stop in "/?#":
        found = url.find(stop, scheme_end + 3) if scheme_end > 0 else -1
        if found != -1:
            origin_end = min(origin_end, found)
    return _target_of_origin(url[:origin_end])


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
    return Target(parts.scheme, host, port, f"{host}:{explicit}" if explicit else host)


@functools.lru_cache(maxsize=256)
def _ms(milliseconds: int) -> timedelta:
    return timedelta(milliseconds=milliseconds)


class PostbackHttpClient:
    def __init__(
        self,
        guard: DestinationGuard,
        resolver: Resolver,
        *,
        max_clients: int = 2048,
        extra_ca_pem: bytes | None = None,
        approved_ttl_s: float = 30.0,
    ) -> None:
        self._guard = guard
        self._resolver = resolver
        self._max_clients = max_clients
        self._extra_ca_pem = extra_ca_pem
        self._clients: OrderedDict[tuple[str, str, int, int], Client] = OrderedDict()
        # Approved addresses by host, until `expires`: the same few hosts get thousands of
        # postbacks a second, and resolving and judging each time dominated the hot path.
        self._approved: dict[str, tuple[float, str]] = {}
        self._approved_ttl_s = approved_ttl_s

    async def send(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        *,
        connect_timeout_ms: int,
        timeout_ms: int,
    ) -> HttpAnswer:
        """One request; raises a DeliveryFailure subclass when no HTTP answer came."""
        target = target_of(url)
        try:
            address = self._approved_address(target)
            if address is None:  # a lookup: bounded by the same total timeout
                async with asyncio.timeout(timeout_ms / 1000):
                    address = await self._address(target)
                    client = self._client(target, address, connect_timeout_ms)
                    return await self._exchange(client, method, url, headers, body, timeout_ms)
            # Hot path: reqwest's own per-request timeout covers connect, headers and the whole
            # (capped) body read, so no asyncio timer per request (a visible cost at 10k/s).
            client = self._client(target, address, connect_timeout_ms)
            return await self._exchange(client, method, url, headers, body, timeout_ms)
        except DeliveryFailure:
            raise
        except PyreqwestError as exc:  # before TimeoutError: its timeouts subclass it
            raise classify(exc, target.where, connect_timeout_ms, timeout_ms) from exc
        except TimeoutError:
            raise Timeout.answering(target.where, timeout_ms) from None
        except Exception as exc:
            raise classify(exc, target.where, connect_timeout_ms, timeout_ms) from exc

    def _approved_address(self, target: Target) -> str | None:
        approved = self._approved.get(target.host)
        if approved is not None and approved[0] > time.monotonic():
            return approved[1]
        return None

    async def _address(self, target: Target) -> str:
        now = time.monotonic()
        approved = self._approved.get(target.host)
        if approved is not None and approved[0] > now:
            return approved[1]
        address = await self._judged_address(target)
        if len(self._approved) >= self._max_clients:
            self._approved.clear()  # bounded; refilled on the next request of each host
        self._approved[target.host] = (now + self._approved_ttl_s, address)
        return address

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

    def _client(self, target: Target, address: str, connect_timeout_ms: int) -> Client:
        key = (target.host, address, target.port, connect_timeout_ms)
        client = self._clients.get(key)
        if client is not None:
            self._clients.move_to_end(key)
            return client
        builder = (
            ClientBuilder()
            .follow_redirects(False)
            .no_proxy()
            .gzip(False)
            .brotli(False)
            .zstd(False)
            .deflate(False)
            .user_agent(USER_AGENT)
            .connect_timeout(timedelta(milliseconds=connect_timeout_ms))
            .pool_idle_timeout(timedelta(seconds=60))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(True)
        )
        if target.host != address:
            builder = builder.resolve(target.host, address, target.port)
        if self._extra_ca_pem is not None:
            builder = builder.add_root_certificate_pem(self._extra_ca_pem)
        client = builder.build()
        self._clients[key] = client
        if len(self._clients) > self._max_clients:
            # Dropped, not closed: requests still running on it keep their connection.
            self._clients.popitem(last=False)
        return client

    async def _exchange(
        self,
        client: Client,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeout_ms: int,
    ) -> HttpAnswer:
        request = client.request(method, url).headers(headers)
        if body is not None:
            request = request.body_bytes(body)
        request = request.timeout(_ms(timeout_ms))
        request = request.streamed_read_buffer_limit(SERVER_RESPONSE_LIMIT + 1)
        async with request.build_streamed() as response:
            status = response.status
            length = response.get_header("content-length")
            if length is not None and length.isdigit() and int(length) <= SERVER_RESPONSE_LIMIT:
                # Small and declared: one read (hyper never reads past Content-Length).
                text = bytes(await response.bytes()).decode("utf-8", errors="replace")
            else:
                text = await _read_capped(response.body_reader)
            # Read only from failures: a success never needs it, and the hot path is successes.
            retry_after = response.get_header("retry-after") if status >= 400 else None
            return HttpAnswer(
                status, _reason(status), response.get_header("location"), text, retry_after
            )

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), OrderedDict()
        for client in clients:
            await client.close()


async def _read_capped(reader: ResponseBodyReader) -> str:
    """The first SERVER_RESPONSE_LIMIT bytes of the body; the rest is never read (leaving the
    `async with` drops the connection instead of draining it)."""
    body = bytearray()
    while len(body) <= SERVER_RESPONSE_LIMIT:
        chunk = await reader.read(SERVER_RESPONSE_LIMIT + 1 - len(body))
        if chunk is None:
            break
        body += bytes(chunk)
    if len(body) > SERVER_RESPONSE_LIMIT:
        text = bytes(body[:SERVER_RESPONSE_LIMIT]).decode("utf-8", errors="replace")
        return text + TRUNCATION_MARK
    return bytes(body).decode("utf-8", errors="replace")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
