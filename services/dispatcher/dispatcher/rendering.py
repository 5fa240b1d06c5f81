"""Macro values for one postback of one input, and the request they render (design §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from uuid import UUID

from postbacks.configs import CONTENT_TYPES, BodyFormat, PostbackConfig
from postbacks.inputs import ClickInput
from postbacks.macros import MACROS
from postbacks.templates import render_form, render_header, render_json, render_url


def macro_values(message: ClickInput, postback_id: UUID, attempt_id: UUID) -> dict[str, str]:
    # The model's own field values: model_dump() per postback was the costliest step of
    # rendering. Names that are not fields (timestamp, ids) are set below.
    fields = vars(message)
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


@dataclass(frozen=True)
class RenderedRequest:
    url: str
    headers: list[tuple[bytes, bytes]]
    body: bytes | None


def render(config: PostbackConfig, message: ClickInput, attempt_id: UUID) -> RenderedRequest:
    values = macro_values(message, config.id, attempt_id)
    headers = [
        (name.encode(), render_header(template, values).encode())
        for name, template in config.headers.items()
    ]
    body = None
    if config.body is not None:
        if config.content_type is BodyFormat.JSON:
            body = render_json(config.body, values).encode()
        else:
            body = render_form(config.body, values).encode()
        if not any(name.lower() == b"content-type" for name, _ in headers):
            headers.append((b"Content-Type", CONTENT_TYPES[config.content_type].encode()))
    return RenderedRequest(render_url(config.url, values), headers, body)
