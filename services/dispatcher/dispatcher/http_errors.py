"""Why a request got no HTTP answer, from the exception that said so, in our failure classes."""

from __future__ import annotations

import ssl

from dispatcher.failures import (
    ConnectionRefused,
    ConnectionReset,
    DeliveryFailure,
    InvalidResponse,
    RequestFailed,
    Timeout,
    TlsFailure,
)
from dispatcher.http1 import AnswerTimedOut, ConnectionLost, ParseFailed


def classify(exc: BaseException, where: str, timeout_ms: int) -> DeliveryFailure:
    """`exc` came from connecting or exchanging with `where` (connect timeouts are told apart
    by the caller, which knows which deadline fired)."""
    if isinstance(exc, AnswerTimedOut | TimeoutError):
        return Timeout.answering(where, timeout_ms)
    if isinstance(exc, ParseFailed):
        return InvalidResponse(where, str(exc))
    if isinstance(exc, ConnectionLost):
        if exc.reset:
            return ConnectionReset(where)
        if exc.answered:
            return InvalidResponse(where, "the connection closed mid-answer")
        return InvalidResponse(where, "the connection closed before any answer")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TlsFailure(where, f"certificate verify failed: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        return TlsFailure(where, exc.reason or str(exc))
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionRefused(where)
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return ConnectionReset(where)
    if isinstance(exc, OSError):
        return RequestFailed(where, exc.strerror or str(exc))
    return RequestFailed(where, str(exc) or type(exc).__name__)
