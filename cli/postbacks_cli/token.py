"""`postbacks token`: a new random API token and the POSTBACKS_API_TOKENS entry that grants it."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence

from query_api.auth import TokenTable

# 32 random bytes as hex: 256 bits, and only characters a bearer token carries as they are.
TOKEN_BYTES = 32


def new_entry(
    scopes: Sequence[str], publisher_ids: Sequence[int], offer_ids: Sequence[int]
) -> tuple[str, str]:
    """A new token and its entry, `"<token>": {...}`, checked the way the server reads it."""
    token = secrets.token_hex(TOKEN_BYTES)
    grant: dict[str, list[str] | list[int]] = {"scopes": sorted(set(scopes))}
    if publisher_ids:
        grant["publisher_ids"] = sorted(set(publisher_ids))
    if offer_ids:
        grant["offer_ids"] = sorted(set(offer_ids))
    entry = json.dumps({token: grant})
    TokenTable.parse(entry)  # ValueError, as the server would refuse it at start
    return token, entry[1:-1]
