"""Input messages as a tracking platform produces them, for the pipeline tests."""

from __future__ import annotations

import orjson


def conversion(transaction_id: str, publisher_id: int, **extra: object) -> bytes:
    """A conversion of offer 7 with a payout; `extra` adds or replaces fields."""
    return orjson.dumps(
        {
            "transaction_id": transaction_id,
            "offer_id": 7,
            "publisher_id": publisher_id,
            "payout": "12.50",
            **extra,
        }
    )
