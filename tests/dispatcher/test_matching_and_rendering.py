"""Matching and rendering, without Kafka: plain functions on plain values."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.config_table import ConfigTable
from dispatcher.rendering import render
from postbacks import topics
from postbacks.configs import PostbackConfig
from postbacks.inputs import parse_input
from tests.dispatcher.configs import stamped


def config(**fields: object) -> PostbackConfig:
    return stamped(**{"name": "n", **fields})


def table_of(*configs: PostbackConfig) -> ConfigTable:
    table = ConfigTable()
    for c in configs:
        table.apply(str(c.id).encode(), c.model_dump_json().encode())
    return table


def conversion(**fields: object) -> bytes:
    import orjson

    return orjson.dumps({"transaction_id": "t1", "offer_id": 1, "publisher_id": 2, **fields})


def test_scope_type_and_status_decide_which_configs_fire() -> None:
    any_scope = config(name="any")
    offer = config(name="offer", offer_id=1)
    other_offer = config(name="other-offer", offer_id=9)
    pair = config(name="pair", offer_id=1, publisher_id=2)
    rejections = config(name="rejections", statuses=["rejected"])
    disabled = config(name="disabled", enabled=False)
    clicks = config(name="clicks", type="Click")
    table = table_of(any_scope, offer, other_offer, pair, rejections, disabled, clicks)

    approved = parse_input(topics.CONVERSIONS, conversion())
    assert {c.name for c in table.matching(topics.CONVERSIONS, approved)} == {
        "any",
        "offer",
        "pair",
    }
    rejected = parse_input(topics.CONVERSIONS, conversion(status="rejected"))
    assert {c.name for c in table.matching(topics.CONVERSIONS, rejected)} == {"rejections"}
    click = parse_input(topics.CLICKS, conversion())
    assert {c.name for c in table.matching(topics.CLICKS, click)} == {"clicks"}


def test_event_id_matches_as_text_and_null_means_any_event() -> None:
    table = table_of(
        config(name="e5", type="Event", event_id=5), config(name="any-event", type="Event")
    )
    event = parse_input(topics.EVENTS, conversion(event_id="5"))
    assert {c.name for c in table.matching(topics.EVENTS, event)} == {"e5", "any-event"}
    other = parse_input(topics.EVENTS, conversion(event_id=6))
    assert {c.name for c in table.matching(topics.EVENTS, other)} == {"any-event"}


def test_tombstones_and_older_versions_are_applied_correctly() -> None:
    first = config(name="v1")
    table = table_of(first)
    newer = first.model_copy(update={"version": 3, "name": "v3"})
    table.apply(str(first.id).encode(), newer.model_dump_json().encode())
    table.apply(str(first.id).encode(), first.model_dump_json().encode())  # stale copy
    message = parse_input(topics.CONVERSIONS, conversion())
    assert [c.name for c in table.matching(topics.CONVERSIONS, message)] == ["v3"]
    table.apply(str(first.id).encode(), None)
    assert table.matching(topics.CONVERSIONS, message) == []


def test_the_scope_index_follows_updates_disabling_and_deletion() -> None:
    # ConfigTable indexes configurations by (type, publisher): an update that moves a
    # configuration to another publisher, disables it or deletes it must leave no stale entry.
    moving = config(name="moving", publisher_id=2)
    anyone = config(name="anyone")
    table = table_of(moving, anyone)
    for_2 = parse_input(topics.CONVERSIONS, conversion(publisher_id=2))
    for_3 = parse_input(topics.CONVERSIONS, conversion(publisher_id=3))
    assert {c.name for c in table.matching(topics.CONVERSIONS, for_2)} == {"moving", "anyone"}
    moved = moving.model_copy(update={"version": 2, "publisher_id": 3})
    table.apply(str(moving.id).encode(), moved.model_dump_json().encode())
    assert {c.name for c in table.matching(topics.CONVERSIONS, for_2)} == {"anyone"}
    assert {c.name for c in table.matching(topics.CONVERSIONS, for_3)} == {"moving", "anyone"}
    off = moved.model_copy(update={"version": 3, "enabled": False})
    table.apply(str(moving.id).encode(), off.model_dump_json().encode())
    assert {c.name for c in table.matching(topics.CONVERSIONS, for_3)} == {"anyone"}
    assert len(table) == 2  # disabled, still known
    table.apply(str(anyone.id).encode(), None)
    assert table.matching(topics.CONVERSIONS, for_3) == []
    assert len(table) == 1


def test_macros_render_and_missing_values_render_empty() -> None:
    c = config(url="http://pub.example/pb?t={transaction_id}&p={payout}&s={sub3}&st={status}")
    message = parse_input(topics.CONVERSIONS, conversion(payout="1.50"))
    url = render(c, message, str(uuid.uuid4())).url
    assert url == "http://pub.example/pb?t=t1&p=1.50&s=&st=approved"


@settings(max_examples=200, deadline=None)
@given(value=st.text(min_size=1, max_size=40))
def test_no_macro_value_can_change_host_path_or_parameters(value: str) -> None:
    c = config(url="https://pub.example:8443/post/back?sub={sub1}&tx={transaction_id}")
    message = parse_input(topics.CONVERSIONS, conversion(sub1=value))
    parts = urlsplit(render(c, message, str(uuid.uuid4())).url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "pub.example:8443", "/post/back")
    assert parts.fragment == ""
    assert parse_qs(parts.query, keep_blank_values=True) == {"sub": [value], "tx": ["t1"]}


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://pub.example/?t={txid}", "unknown macro {txid}"),
        ("ftp://pub.example/", "http:// or https://"),
        ("http:///nohost", "must name a host"),
    ],
)
def test_bad_urls_are_refused_at_save_naming_the_problem(url: str, needle: str) -> None:
    with pytest.raises(ValueError, match="url") as caught:
        config(url=url)
    assert needle in str(caught.value)
