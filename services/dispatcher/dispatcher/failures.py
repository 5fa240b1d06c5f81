"""Plain words for a request that got no HTTP response (response_code 0, design §5)."""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

import httpx


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def describe_failure(exc: BaseException, url: str, timeout_ms: int) -> str:
    """One sentence a network engineer can act on, naming the host where it helps."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    where = f"{host}:{parts.port}" if parts.port else host
    chain = _causes(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return f"timeout: could not connect to {where} within {timeout_ms} ms"
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        return f"timeout: no complete response from {where} within {timeout_ms} ms"
    if any(isinstance(c, socket.gaierror) for c in chain):
        return f"DNS failure: could not resolve host {host}"
    if any(isinstance(c, ConnectionRefusedError) for c in chain):
        return f"connection refused by {where}"
    if any(isinstance(c, ssl.SSLError) for c in chain):
        return f"TLS failure with {where}: {exc}"
    if any(isinstance(c, ConnectionResetError) for c in chain):
        return f"connection reset by {where}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{where} closed the connection without a valid HTTP response: {exc}"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect to {where}: {exc}"
    if isinstance(exc, httpx.ReadError):
        return f"connection to {where} broke while reading the response: {exc}"
    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
        return f"invalid URL: {exc}"
    return f"request failed ({type(exc).__name__}): {exc}"
