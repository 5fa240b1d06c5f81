"""Macro names (design §4): the only `{name}` placeholders a template may hold.

A configuration with any other name is refused when it is saved, so a misspelt macro never
reaches a publisher as text.
"""

from __future__ import annotations

import re

MACROS: frozenset[str] = frozenset(
    {
        "transaction_id", "click_id", "offer_id", "publisher_id", "event_id", "event_name",
        "status", "payout", "revenue", "sale_amount", "currency", "rejection_reason",
        "timestamp", "datetime", "postback_id", "attempt_id",
        *(f"sub{i}" for i in range(1, 11)),
        *(f"adv{i}" for i in range(1, 11)),
    }
)  # fmt: skip

# Macros whose values are numbers: a bare one in a JSON body renders as a JSON number.
NUMERIC_MACROS: frozenset[str] = frozenset(
    {"offer_id", "publisher_id", "payout", "revenue", "sale_amount", "timestamp"}
)

# In URLs, forms and headers anything between braces counts as a macro reference, so "{Payout}"
# or "{pay out}" is caught at save time instead of being sent literally.
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# In JSON bodies braces also delimit objects, so only identifier-shaped names are references.
JSON_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def unknown_macros(template: str, pattern: re.Pattern[str] = PLACEHOLDER) -> list[str]:
    return [name for name in pattern.findall(template) if name not in MACROS]


def describe_unknown(unknown: list[str]) -> str:
    names = ", ".join(f"{{{n}}}" for n in unknown)
    valid = ", ".join(f"{{{n}}}" for n in sorted(MACROS))
    return f"unknown macro {names}; valid macros are {valid}"
