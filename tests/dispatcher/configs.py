"""Saved configurations for the dispatcher's tests, validated as the API validates them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from postbacks.configs import PostbackConfig, PostbackConfigIn


def stamped(**fields: Any) -> PostbackConfig:
    """A Conversion postback to http://pub.example/pb named "pb", with `fields` over that."""
    now = datetime.now(UTC)
    payload = PostbackConfigIn.model_validate(
        {"name": "pb", "type": "Conversion", "url": "http://pub.example/pb", **fields}
    )
    return PostbackConfig.stamp(payload, id=uuid.uuid4(), created_at=now, now=now, version=1)
