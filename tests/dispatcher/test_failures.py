"""Plain-words errors for requests that got no HTTP response.

Refused connections and timeouts are also provoked for real in tests/e2e; DNS and TLS failures
cannot be provoked on loopback alone, so their exception chains are built here as httpx
raises them.
"""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest

from dispatcher.failures import describe_failure

URL = "https://pub.example:8443/pb?t=1"


def raised_from(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectTimeout("t"), "timeout: could not connect to pub.example:8443 within 250 ms"),
        (
            httpx.ReadTimeout("t"),
            "timeout: no complete response from pub.example:8443 within 250 ms",
        ),
        (TimeoutError(), "timeout: no complete response from pub.example:8443 within 250 ms"),
        (
            raised_from(httpx.ConnectError("x"), socket.gaierror(-2, "Name or service not known")),
            "DNS failure: could not resolve host pub.example",
        ),
        (
            raised_from(httpx.ConnectError("x"), ConnectionRefusedError(111, "refused")),
            "connection refused by pub.example:8443",
        ),
        (
            raised_from(httpx.ConnectError("bad cert"), ssl.SSLCertVerificationError("verify")),
            "TLS failure with pub.example:8443",
        ),
        (
            raised_from(httpx.ReadError("x"), ConnectionResetError(104, "reset")),
            "connection reset by pub.example:8443",
        ),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            "pub.example:8443 closed the connection without a valid HTTP response",
        ),
    ],
)
def test_failures_are_described_in_plain_words(exc: Exception, expected: str) -> None:
    assert describe_failure(exc, URL, 250).startswith(expected)
