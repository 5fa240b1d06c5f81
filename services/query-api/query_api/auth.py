"""Bearer tokens, their scopes and confinements (POSTBACKS_API_TOKENS), checked per router.

POSTBACKS_API_TOKENS is a JSON object, token -> its list of scopes, or token -> an object with
the scopes and, for a token given to a publisher, the publishers (and offers) it is confined to:

    {"6f1c...": ["logs:read"],
     "b94e...": ["logs:read", "postbacks:write"],
     "0a7d...": {"scopes": ["logs:read", "postbacks:write"], "publisher_ids": [42, 43]}}

A confined token sees and changes only what belongs to its publishers (confinement.py);
`postbacks token` makes a new token and prints its entry.

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

from postbacks.attempts import UINT64_MAX
from query_api.confinement import CONFINING_KEYS, UNCONFINED, Confinement
from query_api.errors import Forbidden, Unauthorized, error_responses

Scope = Literal["logs:read", "postbacks:write"]
LOGS_READ: Scope = "logs:read"
POSTBACKS_WRITE: Scope = "postbacks:write"
SCOPES: tuple[Scope, ...] = (LOGS_READ, POSTBACKS_WRITE)

TOKENS_VARIABLE = "POSTBACKS_API_TOKENS"
EXAMPLE = '{"<token>": ["logs:read", "postbacks:write"]}'
CONFINED_EXAMPLE = '{"<token>": {"scopes": ["logs:read"], "publisher_ids": [42]}}'
# The most publishers or offers one token lists: each becomes a bound value of every query.
MAX_CONFINED_IDS = 1000
# RFC 6750's b64token: what `Authorization: Bearer <token>` carries as it is.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*", re.ASCII)
_READING = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Grant:
    """What one token may do: its scopes, and the publishers and offers it is confined to."""

    scopes: frozenset[Scope]
    confinement: Confinement = UNCONFINED


class TokenTable:
    """The configured tokens, kept as SHA-256 digests, with the grant of each."""

    def __init__(self, tokens: Mapping[str, Sequence[Scope] | Grant]) -> None:
        self._entries = tuple(
            (_digest(token), entry if isinstance(entry, Grant) else Grant(frozenset(entry)))
            for token, entry in tokens.items()
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
        tokens: dict[str, Grant] = {}
        for position, (token, entry) in enumerate(data.items(), start=1):
            tokens[token] = _valid_entry(f"token #{position}", token, entry)
        return cls(tokens)

    def grant_of(self, token: str) -> Grant | None:
        """The grant of `token`, or None when it is not configured. Constant time."""
        presented = _digest(token)
        found: Grant | None = None
        for digest, grant in self._entries:
            if hmac.compare_digest(presented, digest):
                found = grant
        return found

    def scopes_of(self, token: str) -> frozenset[Scope] | None:
        """The scopes of `token`, or None when it is not configured. Constant time."""
        grant = self.grant_of(token)
        return None if grant is None else grant.scopes

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


OPEN = Grant(frozenset(SCOPES))


def required(tokens: TokenTable | None, access: Access) -> list[DependsParam]:
    """The router dependencies that enforce `access`; when `tokens` is None (open), one that
    grants every request everything."""
    if tokens is None:

        async def open_api(request: Request) -> None:
            request.state.grant = OPEN

        return [DependsParam(open_api)]

    async def check_token(request: Request, credentials: Credentials) -> None:
        needed = access.reading if request.method in _READING else access.writing
        named = " or ".join(needed) or "(no scope allows this)"
        if credentials is None:
            raise Unauthorized(
                f"{request.method} {request.url.path} needs a bearer token with the {named} "
                "scope: send the header 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        grant = tokens.grant_of(credentials.credentials)
        if grant is None:
            raise Unauthorized(
                "the bearer token is not one this server accepts; check the token you send "
                f"against the server's {TOKENS_VARIABLE}",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if grant.scopes.isdisjoint(needed):
            has = ", ".join(sorted(grant.scopes))
            raise Forbidden(
                f"{request.method} {request.url.path} needs a token with the {named} scope; "
                f"this token has only {has}",
                headers={
                    "WWW-Authenticate": (
                        f'Bearer error="insufficient_scope", scope="{" ".join(needed)}"'
                    )
                },
            )
        # What the routes confine their reads and writes to (confinement.Confined).
        request.state.grant = grant

    return [DependsParam(check_token)]


def _digest(token: str) -> bytes:
    # Equal-length digests: compare_digest then takes the same time whatever was sent.
    return hashlib.sha256(token.encode()).digest()


def _refuse_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    for position, key in enumerate(keys, start=1):
        if keys.index(key) != position - 1:
            # The hook sees every object: an entry's own keys too.
            if key in ("scopes", *CONFINING_KEYS):
                raise ValueError(f"an entry gives {key!r} twice; give it once")
            raise ValueError(f"token #{position} repeats token #{keys.index(key) + 1}")
    return dict(pairs)


def _valid_entry(where: str, token: str, entry: Any) -> Grant:
    _check_token_text(where, token)
    if isinstance(entry, list):
        return Grant(frozenset(_valid_scopes(where, entry)))
    if not isinstance(entry, dict):
        raise ValueError(
            f"{where}: give a list of scopes, e.g. {EXAMPLE}, or an object, e.g. {CONFINED_EXAMPLE}"
        )
    unknown = sorted(set(entry) - {"scopes", *CONFINING_KEYS})
    if unknown:
        raise ValueError(
            f"{where} has the unknown key {unknown[0]!r}; an entry takes scopes, "
            f"{', '.join(CONFINING_KEYS)}"
        )
    if "scopes" not in entry:
        raise ValueError(f"{where} has no 'scopes'; e.g. {CONFINED_EXAMPLE}")
    scopes = _valid_scopes(where, entry["scopes"])
    ids = {key: _valid_ids(where, key, entry[key]) for key in CONFINING_KEYS if key in entry}
    return Grant(
        frozenset(scopes),
        Confinement(publisher_ids=ids.get("publisher_ids"), offer_ids=ids.get("offer_ids")),
    )


def _valid_ids(where: str, key: str, ids: Any) -> frozenset[int]:
    if not isinstance(ids, list) or not ids or not all(_whole(i) for i in ids):
        raise ValueError(
            f"{where}: '{key}' must be a non-empty list of whole numbers, e.g. [42, 43]; "
            f"leave it out for a token that is not confined"
        )
    if len(set(ids)) > MAX_CONFINED_IDS:
        raise ValueError(f"{where}: '{key}' lists {len(set(ids))}; at most {MAX_CONFINED_IDS}")
    for value in ids:
        if not 0 <= value <= UINT64_MAX:
            raise ValueError(f"{where}: '{key}' holds {value}, outside 0..{UINT64_MAX}")
    return frozenset(ids)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_token_text(where: str, token: str) -> None:
    if not token:
        raise ValueError(f"{where} is empty; a token needs at least one character")
    if not _TOKEN.fullmatch(token):
        raise ValueError(
            f"{where} has characters a bearer token cannot carry; use letters, digits and "
            "- . _ ~ + / (e.g. the output of `postbacks token`)"
        )


def _valid_scopes(where: str, scopes: Any) -> list[Scope]:
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise ValueError(f"{where}: give a non-empty list of scopes ({', '.join(SCOPES)})")
    for scope in scopes:
        if scope not in SCOPES:
            raise ValueError(
                f"{where} has the unknown scope {scope!r}; scopes are {', '.join(SCOPES)}"
            )
    return cast(list[Scope], scopes)
