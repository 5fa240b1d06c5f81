"""The configuration table takes only records it can use: the rest are refused with the reason
(the follower logs and counts them), and the versions' order holds for them too."""

from __future__ import annotations

import orjson
import pytest

from dispatcher.config_table import ConfigTable
from postbacks import topics
from postbacks.configs import PostbackConfig
from postbacks.inputs import parse_input
from tests.dispatcher.configs import stamped

INPUT = parse_input(
    topics.CONVERSIONS, b'{"transaction_id": "t", "offer_id": 1, "publisher_id": 2}'
)


def record(config: PostbackConfig, **changes: object) -> tuple[bytes, bytes]:
    return str(config.id).encode(), orjson.dumps(config.model_dump(mode="json") | changes)


def fired(table: ConfigTable) -> list[int]:
    return [c.version for c in table.matching(topics.CONVERSIONS, INPUT)]


def test_an_unusable_newer_version_replaces_the_usable_one() -> None:
    table = ConfigTable()
    config = stamped(publisher_id=2)
    table.apply(*record(config))
    assert fired(table) == [1]
    with pytest.raises(ValueError, match="port must be a number from 1 to 65535"):
        table.apply(*record(config, version=2, url="http://pub.example:99999/pb"))
    assert fired(table) == []  # the newest word on it cannot be fired


def test_an_unusable_older_version_does_not_replace_a_fixed_one() -> None:
    table = ConfigTable()
    config = stamped(publisher_id=2)
    table.apply(*record(config, version=3))
    with pytest.raises(ValueError, match="is invalid and not fired"):
        table.apply(*record(config, version=2, url="http://pub.example:99999/pb"))
    assert fired(table) == [3]  # a republish racing the update that fixed it


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (None, b"{}", "without a key"),
        (b"not-a-uuid", b"{}", "not a postback id"),
        (b"\xff" * 100, b"{}", "not a postback id"),
        (b"6a0e6f0e-3c49-4a0e-8f0e-0e6f0e3c494a", b"{not json", "is invalid"),
        (b"6a0e6f0e-3c49-4a0e-8f0e-0e6f0e3c494a", b"[]", "is invalid"),
    ],
)
def test_a_record_it_cannot_use_is_refused_with_the_reason(
    key: bytes | None, value: bytes, reason: str
) -> None:
    table = ConfigTable()
    with pytest.raises(ValueError, match=reason):
        table.apply(key, value)
    assert len(table) == 0
