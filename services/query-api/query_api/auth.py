"""Bearer tokens and their scopes (POSTBACKS_API_TOKENS), checked per router in build_app.

POSTBACKS_API_TOKENS is a JSON object, token -> list of scopes:

    {"6f1c...": ["logs:read"], "b94e...": ["logs:read", "postbacks:write"]}

Clients send `Authorization: Bearer <token>`. What each request needs (any one of the scopes):

    GET  /api/v1/logs*, /api/v1/stats*             logs:read
    GET  /api/v1/postbacks*                        logs:read or postbacks:write
    POST/PUT/PATCH/DELETE /api/v1/postbacks* (and /test) postbacks:write
    /healthz /readyz /metrics /docs /openapi.json  nothing: open

Reading configurations takes either scope: the log's rows already show what a configuration
holds (its name, its expanded URL), and a writer must read before it writes (`postbacks apply`
lists the configurations to plan its changes).

No token: 401 with `WWW-Authenticate: Bearer`; a token that is not configured: 401; a
configured token without the scope: 403 naming the scope. Only SHA-256 digests of the tokens are
kept, and a presented token is compared with every one of them by hmac.compare_digest, without
stopping at a match, so timing tells nothing about a token. No token is ever put in a log line
or an error message: errors about the setting name a token by its position in the object.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from query_api.errors import Forbidden, Unauthorized, error_responses

Scope = Literal["logs:read", "postbacks:write"]
LOGS_READ: Scope = "logs:read"
POSTBACKS_WRITE: Scope = "postbacks:write"
SCOPES: tuple[Scope, ...] = (LOGS_READ, POSTBACKS_WRITE)

TOKENS_VARIABLE = "POSTBACKS_API_TOKENS"
EXAMPLE = '{"<token>": ["logs:read", "postbacks:write"]}'
# RFC 6750's b64token: what `Authorization: Bearer <token>` carries as it is.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*", re.ASCII)
_READING = frozenset({"GET", "HEAD"})


class TokenTable:
    """The configured tokens, kept as SHA-256 digests, with the scopes of each."""

    def __init__(self, tokens: Mapping[str, Sequence[Scope]]) -> None:
        self._entries = tuple(
            (_digest(token), frozenset(scopes)) for token, scopes in tokens.items()
        )

    @classmethod
    def parse(cls, text: str) -> TokenTable:
        """The table POSTBACKS_API_TOKENS holds; ValueError saying what is wrong, no token."""
        try:
            data = json.loads(text, object_pairs_hook=_refuse_repeats)
        except json.JSONDecodeError as exc:
            # exc.msg and the position only: str(exc) is safe too, but the text is not.
            raise ValueError(
                f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                f"expected an object of token -> scopes, e.g. {EXAMPLE}"
            ) from None
        if not isinstance(data, dict):
            raise ValueError(f"must be a JSON object of token -> scopes, e.g. {EXAMPLE}")
        if not data:
            raise ValueError(
                "holds no tokens; give at least one, or leave it unset "
                "(only `postbacks dev` runs without tokens)"
            )
        tokens: dict[str, list[Scope]] = {}
        for position, (token, scopes) in enumerate(data.items(), start=1):
            tokens[token] = _valid_entry(f"token #{position}", token, scopes)
        return cls(tokens)

    def scopes_of(self, token: str) -> frozenset[Scope] | None:
        """The scopes of `token`, or None when it is not configured. Constant time."""
        presented = _digest(token)
        found: frozenset[Scope] | None = None
        for digest, scopes in self._entries:
            if hmac.compare_digest(presented, digest):
                found = scopes
        return found

    def __repr__(self) -> str:
        return f"TokenTable({len(self._entries)} tokens)"


@dataclass(frozen=True)
class Access:
    """The scopes a router's requests need: any one of `reading` to read, of `writing` to write."""

    reading: tuple[Scope, ...]
    writing: tuple[Scope, ...] = ()


LOGS = Access(reading=(LOGS_READ,))
POSTBACKS = Access(reading=(LOGS_READ, POSTBACKS_WRITE), writing=(POSTBACKS_WRITE,))

# The answers of every route behind required(), documented whether or not this server has tokens
# (the document is one for every server; without tokens, 403 is the cross-site refusal).
RESPONSES = error_responses(401, 403)

_bearer = HTTPBearer(
    auto_error=False,
    description=f"A token from the server's {TOKENS_VARIABLE}, with the scope the route needs.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def required(tokens: TokenTable | None, access: Access) -> list[DependsParam]:
    """The router dependencies that enforce `access`; none when `tokens` is None (open)."""
    if tokens is None:
        return []

    async def check_token(request: Request, credentials: Credentials) -> None:
        needed = access.reading if request.method in _READING else access.writing
        named = " or ".join(needed) or "(no scope allows this)"
        if credentials is None:
            raise Unauthorized(
                f"{request.method} {request.url.path} needs a bearer token with the {named} "
                "scope: send the header 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        scopes = tokens.scopes_of(credentials.credentials)
        if scopes is None:
            raise Unauthorized(
                "the bearer token is not one this server accepts; check the token you send "
                f"against the server's {TOKENS_VARIABLE}",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if scopes.isdisjoint(needed):
            has = ", ".join(sorted(scopes))
            raise Forbidden(
                f"{request.method} {request.url.path} needs a token with the {named} scope; "
                f"this token has only {has}",
                headers={
                    "WWW-Authenticate": (
                        f'Bearer error="insufficient_scope", scope="{" ".join(needed)}"'
                    )
                },
            )

    return [DependsParam(check_token)]


def _digest(token: str) -> bytes:
    # Equal-length digests: compare_digest then takes the same time whatever was sent.
    return hashlib.sha256(token.encode()).digest()


def _refuse_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    for position, key in enumerate(keys, start=1):
        if keys.index(key) != position - 1:
            raise ValueError(f"token #{position} repeats token #{keys.index(key) + 1}")
    return dict(pairs)


def _valid_entry(where: str, token: str, scopes: Any) -> list[Scope]:
    if not token:
        raise ValueError(f"{where} is empty; a token needs at least one character")
    if not _TOKEN.fullmatch(token):
        raise ValueError(
            f"{where} has characters a bearer token cannot carry; use letters, digits and "
            "- . _ ~ + / (e.g. the output of `openssl rand -hex 32`)"
        )
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise ValueError(f"{where}: give a non-empty list of scopes ({', '.join(SCOPES)})")
    for scope in scopes:
        if scope not in SCOPES:
            raise ValueError(
                f"{where} has the unknown scope {scope!r}; scopes are {', '.join(SCOPES)}"
            )
    return cast(list[Scope], scopes)
