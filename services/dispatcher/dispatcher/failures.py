"""Why a postback got no HTTP response (response_code 0, design §5), one class per cause.

    DeliveryFailure
     ├── Timeout              no complete answer within timeout_ms (or no connection in
     │                        connect_timeout_ms)
     ├── ConnectionRefused    nothing listens there
     ├── ConnectionReset      the peer dropped the connection mid-way
     ├── DnsFailure           the host name does not resolve
     ├── TlsFailure           handshake or certificate problem, with the reason
     ├── InvalidResponse      bytes came back, but not HTTP
     ├── DestinationRefused   the guard refused the address (design §5)
     ├── HostOverloaded       not sent: the publisher's host already has all its slots and
     │                        its waiting line full (scheduler.py)
     ├── UrlTooLong           not sent: the URL with its macros filled is longer than any
     │                        publisher's server is known to accept
     └── RequestFailed        anything else, with the library's words

Each carries its sentence: the `error` column shows it as is, so it names the host and says
what a network engineer would check.
"""

from __future__ import annotations


class DeliveryFailure(Exception):
    """A postback that got no HTTP response; str() is the plain-words `error`."""


class Timeout(DeliveryFailure):
    @classmethod
    def connecting(cls, where: str, ms: int) -> Timeout:
        return cls(f"timeout: could not connect to {where} within {ms} ms")

    @classmethod
    def answering(cls, where: str, ms: int) -> Timeout:
        return cls(f"timeout: no complete response from {where} within {ms} ms")


class ConnectionRefused(DeliveryFailure):
    def __init__(self, where: str) -> None:
        super().__init__(f"connection refused by {where}")


class ConnectionReset(DeliveryFailure):
    def __init__(self, where: str) -> None:
        super().__init__(f"connection reset by {where}")


class DnsFailure(DeliveryFailure):
    def __init__(self, host: str, reason: str = "") -> None:
        detail = f" ({reason})" if reason else ""
        super().__init__(f"DNS failure: could not resolve host {host}{detail}")


class TlsFailure(DeliveryFailure):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"TLS failure with {where}: {reason}")


class InvalidResponse(DeliveryFailure):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"invalid HTTP response from {where}: {reason}")


class DestinationRefused(DeliveryFailure):
    def __init__(self, host: str, reason: str) -> None:
        super().__init__(
            f"destination refused by the guard: {host} resolves to {reason}; "
            "allow it with POSTBACKS_ALLOWED_NETWORKS if it is meant to be reached"
            if host != reason.split(" ", 1)[0]
            else f"destination refused by the guard: {reason}; "
            "allow it with POSTBACKS_ALLOWED_NETWORKS if it is meant to be reached"
        )


class HostOverloaded(DeliveryFailure):
    def __init__(self, host: str, in_flight: int, waiting: int) -> None:
        super().__init__(
            f"not sent: {host} already has {in_flight} requests in flight and {waiting} "
            "waiting, and its server answers too slowly or not at all; re-fire it when it "
            "recovers"
        )


class UrlTooLong(DeliveryFailure):
    def __init__(self, length: int, limit: int) -> None:
        super().__init__(
            f"not sent: the URL is {length} characters once its macros are filled, more than "
            f"{limit}; shorten the template or the values it puts in the URL"
        )


class RequestFailed(DeliveryFailure):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"request to {where} failed: {reason}")
