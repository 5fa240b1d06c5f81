"""Macro values for one postback of one input, and the request they render (design §4)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from functools import lru_cache
from uuid import UUID

from postbacks.configs import CONTENT_TYPES, BodyFormat, PostbackConfig
from postbacks.inputs import ClickInput
from postbacks.macros import JSON_PLACEHOLDER, MACROS, PLACEHOLDER
from postbacks.templates import render_form, render_header, render_json, render_url


def macro_values(
    message: ClickInput,
    postback_id: UUID,
    attempt_id: str,
    names: frozenset[str] = MACROS,
) -> dict[str, str]:
    """The values of the macros `names` that have one (all of them unless told)."""
    # The model's own field values: model_dump() per postback was the costliest step of
    # rendering, and a template names two or three macros of the thirty-six.
    fields = vars(message)
    values = {}
    for name in names:
        value = fields.get(name)
        if value is not None:
            values[name] = _text(value)
    if "timestamp" in names or "datetime" in names:
        occurred = message.occurred_at.astimezone(UTC)
        values["timestamp"] = str(int(occurred.timestamp()))
        values["datetime"] = occurred.isoformat(timespec="seconds").replace("+00:00", "Z")
    if "postback_id" in names:
        values["postback_id"] = str(postback_id)
    if "attempt_id" in names:
        values["attempt_id"] = attempt_id
    return values


def macros_used(config: PostbackConfig) -> frozenset[str]:
    """The macros a configuration's URL, headers and body name."""
    names = _macros_in(config.url, PLACEHOLDER)
    for template in config.headers.values():
        names |= _macros_in(template, PLACEHOLDER)
    if config.body is not None:
        json = config.content_type is BodyFormat.JSON
        names |= _macros_in(config.body, JSON_PLACEHOLDER if json else PLACEHOLDER)
    return names


@lru_cache(maxsize=4096)
def _macros_in(template: str, pattern: re.Pattern[str]) -> frozenset[str]:
    # Templates are few and long-lived (one per configuration): scanned once each.
    return frozenset(pattern.findall(template)) & MACROS


def _text(value: object) -> str:
    if isinstance(value, Decimal):
        # Keep the sender's precision ("1.50" stays "1.50") but never scientific notation.
        return format(value, "f")
    return str(value)


@dataclass(slots=True, eq=False)  # not frozen: a frozen __init__ costs 3x, once per postback
class RenderedRequest:
    url: str
    headers: list[tuple[bytes, bytes]]
    body: bytes | None


def render(config: PostbackConfig, message: ClickInput, attempt_id: str) -> RenderedRequest:
    values = macro_values(message, config.id, attempt_id, macros_used(config))
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
