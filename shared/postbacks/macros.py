"""Macro names and URL rendering (design §4).

A template holds `{name}` placeholders. Only the names in MACROS exist: a configuration with any
other name is refused when it is saved, so a misspelt macro never reaches a publisher as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

MACROS: frozenset[str] = frozenset(
    {
        "transaction_id",
        "click_id",
        "offer_id",
        "publisher_id",
        "event_id",
        "event_name",
        "status",
        "payout",
        "revenue",
        "sale_amount",
        "currency",
        "rejection_reason",
        "timestamp",
        "datetime",
        "postback_id",
        "attempt_id",
        *(f"sub{i}" for i in range(1, 11)),
        *(f"adv{i}" for i in range(1, 11)),
    }
)

# Anything between braces counts as a macro reference, so "{Payout}" or "{pay out}" is caught
# at save time instead of being sent literally.
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def referenced_macros(template: str) -> list[str]:
    return _PLACEHOLDER.findall(template)


def unknown_macros(template: str) -> list[str]:
    return [name for name in referenced_macros(template) if name not in MACROS]


def render_url(template: str, values: Mapping[str, str]) -> str:
    """Fill macros, percent-encoding each value by query-component rules (nothing is safe).

    Encoding every reserved character means a value can never add a parameter, a fragment or a
    path segment; a macro with no value renders empty.
    """
    return _PLACEHOLDER.sub(lambda m: quote(values.get(m.group(1), ""), safe=""), template)
