"""pyreqwest's exceptions, sorted into our failure classes (failures.py).

pyreqwest raises a few broad classes and lists reqwest/hyper's chain of causes in
`exc.details["causes"]`, innermost last; the words there ("Connection refused (os error 111)",
"invalid HTTP version parsed", "invalid peer certificate: UnknownIssuer") decide the class.
"""

from __future__ import annotations

from pyreqwest import exceptions as pe

from dispatcher.failures import (
    ConnectionRefused,
    ConnectionReset,
    DeliveryFailure,
    DnsFailure,
    InvalidResponse,
    RequestFailed,
    Timeout,
    TlsFailure,
)

_TLS_WORDS = ("certificate", "tls", "ssl", "handshake", "alert")


def causes(exc: BaseException) -> list[str]:
    details = getattr(exc, "details", None)
    found = details.get("causes") if isinstance(details, dict) else None
    if not found:
        return [str(exc)]
    return [str(cause.get("message", "")) for cause in found]


def classify(
    exc: BaseException, where: str, connect_timeout_ms: int, timeout_ms: int
) -> DeliveryFailure:
    chain = causes(exc)
    words = " | ".join(chain).lower()
    innermost = chain[-1] if chain else str(exc)
    if isinstance(exc, pe.RequestTimeoutError):
        # reqwest reports its total timeout as a connect timeout too when it fires before
        # the answer's headers; only a timeout inside the connector is a connect timeout.
        if "(connect)" in words or "tcp connect" in words:
            return Timeout.connecting(where, connect_timeout_ms)
        return Timeout.answering(where, timeout_ms)
    if "connection refused" in words:
        return ConnectionRefused(where)
    if "dns error" in words:
        return DnsFailure(where.rsplit(":", 1)[0], innermost)
    if isinstance(exc, pe.ConnectError) and any(w in words for w in _TLS_WORDS):
        return TlsFailure(where, innermost)
    if "reset by peer" in words or "broken pipe" in words:
        return ConnectionReset(where)
    if isinstance(exc, pe.DecodeError) or "parse" in words or "invalid" in words:
        return InvalidResponse(where, innermost)
    if isinstance(exc, pe.ReadError) or "connection closed" in words or "incomplete" in words:
        return InvalidResponse(where, f"the connection closed mid-answer ({innermost})")
    return RequestFailed(where, innermost)
