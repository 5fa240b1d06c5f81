"""What a failed TLS handshake says about our configuration, from OpenSSL's wording.

Python's ssl and librdkafka's own OpenSSL word the same failures alike, so both the Kafka probes
and the ClickHouse backend classify them here and name their own settings for each kind. A
failure of no kind (the connection dropped mid-handshake, an SSLEOFError from a server or load
balancer restarting) may pass: the caller waits rather than refuses.
"""

from __future__ import annotations

from typing import Literal

TlsRefusal = Literal["client_certificate", "hostname", "ca", "not_tls"]

# TLS alerts a server sends when it does not accept our client certificate (or wants one).
# "handshake failure" is OpenSSL's TLS 1.2 answer to a missing one (and to no shared cipher,
# which default contexts on both sides do not meet).
CLIENT_CERTIFICATE_ALERTS = (
    "alert handshake failure",
    "alert certificate required",
    "alert unknown ca",
    "alert bad certificate",
    "alert certificate unknown",
    "alert certificate expired",
    "alert certificate revoked",
    "alert unsupported certificate",
    "alert access denied",
)
# What OpenSSL says when the other end answers a ClientHello with something that is not TLS.
NOT_TLS = ("wrong version number", "packet length too long", "record layer failure")


def tls_refusal_kind(text: str) -> TlsRefusal | None:
    """Which of our settings a TLS failure points at: "client_certificate" (the server did not
    accept ours, or wants one), "hostname" (its certificate does not hold the name we connect
    to), "ca" (not signed by a CA we trust), "not_tls" (no TLS spoken there); None for a
    failure that may pass."""
    words = text.lower().replace("_", " ")
    if any(alert in words for alert in CLIENT_CERTIFICATE_ALERTS):
        return "client_certificate"
    # Before "certificate verify failed", which OpenSSL puts in front of a mismatch too.
    if "hostname mismatch" in words or "ip address mismatch" in words:
        return "hostname"
    if "certificate verify failed" in words:
        return "ca"
    if any(reply in words for reply in NOT_TLS):
        return "not_tls"
    return None
