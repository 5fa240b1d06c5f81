"""Store errors, whatever the backend.

StoreError            the store cannot be reached or used
├── StoreQueryError   ClickHouse refused one statement (bad SQL, bad parameter, a privilege)
└── StoreRefused      a server answered and refused us: credentials or TLS; retrying cannot help
"""

from __future__ import annotations

from typing import Literal

from postbacks.tls_errors import TlsRefusal


class StoreError(Exception):
    pass


class StoreQueryError(StoreError):
    pass


class StoreRefused(StoreError):
    """`reason` says what to fix: the account ("credentials"), or which TLS setting the
    handshake's failure points at (a `TlsRefusal`: our client certificate, the CA, the host, or
    https:// to a server that does not speak TLS)."""

    def __init__(self, message: str, reason: Literal["credentials"] | TlsRefusal) -> None:
        super().__init__(message)
        self.reason = reason
