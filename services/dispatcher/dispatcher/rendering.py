"""Macro values for one postback of one input, and the URL they render (design §4)."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from uuid import UUID

from postbacks.configs import PostbackConfig
from postbacks.inputs import ClickInput
from postbacks.macros import MACROS, render_url


def macro_values(message: ClickInput, postback_id: UUID, attempt_id: UUID) -> dict[str, str]:
    fields = message.model_dump(mode="python")
    values = {name: _text(fields[name]) for name in MACROS if fields.get(name) is not None}
    occurred = message.occurred_at.astimezone(UTC)
    values["timestamp"] = str(int(occurred.timestamp()))
    values["datetime"] = occurred.isoformat(timespec="seconds").replace("+00:00", "Z")
    values["postback_id"] = str(postback_id)
    values["attempt_id"] = str(attempt_id)
    return values


def _text(value: object) -> str:
    if isinstance(value, Decimal):
        # Keep the sender's precision ("1.50" stays "1.50") but never scientific notation.
        return format(value, "f")
    return str(value)


def render(config: PostbackConfig, message: ClickInput, attempt_id: UUID) -> str:
    return render_url(config.url, macro_values(message, config.id, attempt_id))
