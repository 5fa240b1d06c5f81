"""`render()` end to end: one input and one configuration in, the exact request bytes out."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from dispatcher.delivery import source_json
from dispatcher.rendering import RenderedRequest, macro_values, macros_used, render
from postbacks import topics
from postbacks.configs import PostbackConfig, PostbackConfigIn
from postbacks.inputs import ClickInput, parse_input
from postbacks.macros import MACROS
from postbacks.templates import render_form, render_header, render_json, render_url

POSTBACK_ID = uuid.UUID("00000000-0000-4000-8000-0000000000aa")
ATTEMPT_ID = "00000000-0000-4000-8000-0000000000bb"

JSON_BODY = (
    '{"tx":"{transaction_id}","payout":{payout},"note":"{sub1}","who":"{sub2}",'
    '"revenue":{revenue},"sub9":"{sub9}","ts":{timestamp},"at":"{datetime}","cur":{currency},'
    '"pb":"{postback_id}","att":"{attempt_id}"}'
)
FORM_BODY = "tx={transaction_id}&note={sub1}&who={sub2}&p={payout}&r={revenue}"


def config(**fields: Any) -> PostbackConfig:
    now = datetime.now(UTC)
    payload = PostbackConfigIn.model_validate(
        {"name": "n", "type": "Conversion", "url": "https://pub.example/pb", **fields}
    )
    return PostbackConfig.stamp(payload, id=POSTBACK_ID, created_at=now, now=now, version=1)


def message(topic: str = topics.CONVERSIONS, **fields: Any) -> ClickInput:
    value = {
        "transaction_id": "tx-1",
        "offer_id": 7,
        "publisher_id": 9,
        "occurred_at": "2024-05-01T12:00:00.75+02:00",
        "payout": "12.50",
        "sub1": 'he said "hi"',
        "sub2": "café & co",
        "currency": "EUR",
        **fields,
    }
    return parse_input(topic, json.dumps(value).encode())


def rendered(**fields: Any) -> RenderedRequest:
    return render(config(**fields), message(), ATTEMPT_ID)


def test_a_post_json_config_renders_exact_bytes() -> None:
    request = rendered(
        method="POST",
        url="https://pub.example/pb?tx={transaction_id}&att={attempt_id}",
        body=JSON_BODY,
        headers={"Authorization": "Bearer {sub2}", "X-Tx": "{transaction_id}"},
    )
    assert request.url == (
        "https://pub.example/pb?tx=tx-1&att=00000000-0000-4000-8000-0000000000bb"
    )
    assert request.body == (
        b'{"tx":"tx-1","payout":12.50,"note":"he said \\"hi\\"","who":"caf\xc3\xa9 & co",'
        b'"revenue":null,"sub9":"","ts":1714557600,"at":"2024-05-01T10:00:00Z","cur":"EUR",'
        b'"pb":"00000000-0000-4000-8000-0000000000aa","att":"00000000-0000-4000-8000-0000000000bb"}'
    )
    assert request.headers == [
        (b"Authorization", b"Bearer caf\xc3\xa9 & co"),
        (b"X-Tx", b"tx-1"),
        (b"Content-Type", b"application/json; charset=utf-8"),
    ]


def test_a_form_config_renders_exact_bytes() -> None:
    request = rendered(method="POST", body=FORM_BODY, content_type="form")
    assert request.body == b"tx=tx-1&note=he+said+%22hi%22&who=caf%C3%A9+%26+co&p=12.50&r="
    assert request.headers == [(b"Content-Type", b"application/x-www-form-urlencoded")]


@pytest.mark.parametrize(("body", "content_type"), [(JSON_BODY, "json"), (FORM_BODY, "form")])
@pytest.mark.parametrize("spelling", ["Content-Type", "content-type", "CONTENT-TYPE"])
def test_a_content_type_set_by_the_config_is_not_duplicated(
    body: str, content_type: str, spelling: str
) -> None:
    request = rendered(
        method="POST",
        body=body,
        content_type=content_type,
        headers={"X-Tx": "{transaction_id}", spelling: "application/vnd.pub+{currency}"},
    )
    assert request.headers == [
        (b"X-Tx", b"tx-1"),
        (spelling.encode(), b"application/vnd.pub+EUR"),
    ]


def test_a_get_config_has_no_body_and_no_content_type() -> None:
    request = rendered(
        url="https://pub.example/p/{sub2}?n={sub1}&p={payout}",
        headers={"X-Tx": "{transaction_id}"},
    )
    assert (
        request.url == "https://pub.example/p/caf%C3%A9%20%26%20co?n=he%20said%20%22hi%22&p=12.50"
    )
    assert request.body is None
    assert request.headers == [(b"X-Tx", b"tx-1")]


def test_a_post_without_a_body_has_no_content_type() -> None:
    request = rendered(method="POST", headers={"X-Tx": "{transaction_id}"})
    assert request.body is None
    assert request.headers == [(b"X-Tx", b"tx-1")]


def test_header_values_lose_control_characters_from_values() -> None:
    request = render(
        config(headers={"X-Sub": "[{sub1}]"}),
        message(sub1="a\r\nX-Injected: 1"),
        ATTEMPT_ID,
    )
    assert request.headers == [(b"X-Sub", b"[a  X-Injected: 1]")]


@pytest.mark.parametrize(
    ("payout", "text"),
    [("12.50", "12.50"), ("1.10", "1.10"), ("1E+2", "100"), ("1.0E-7", "0.00000010"), (3, "3")],
)
def test_payout_keeps_the_senders_precision_without_exponents(payout: object, text: str) -> None:
    values = macro_values(message(payout=payout), POSTBACK_ID, ATTEMPT_ID)
    assert values["payout"] == text


@pytest.mark.parametrize("number", [b"12.50", b"12345678901234567.01"])
def test_a_payout_sent_as_a_json_number_keeps_its_digits(number: bytes) -> None:
    value = b'{"transaction_id": "t", "offer_id": 1, "publisher_id": 2, "payout": %s}' % number
    values = macro_values(parse_input(topics.CONVERSIONS, value), POSTBACK_ID, ATTEMPT_ID)
    assert values["payout"] == number.decode()


def test_timestamp_and_datetime_come_from_occurred_at_in_utc() -> None:
    values = macro_values(message(), POSTBACK_ID, ATTEMPT_ID)
    assert values["timestamp"] == "1714557600"
    assert values["datetime"] == "2024-05-01T10:00:00Z"
    assert (values["postback_id"], values["attempt_id"]) == (str(POSTBACK_ID), str(ATTEMPT_ID))


def test_values_cover_the_fields_each_input_has() -> None:
    click = macro_values(message(topics.CLICKS), POSTBACK_ID, ATTEMPT_ID)
    assert set(click) == {
        "transaction_id", "offer_id", "publisher_id", "sub1", "sub2", "timestamp", "datetime",
        "postback_id", "attempt_id",
    }  # fmt: skip
    conversion = macro_values(message(), POSTBACK_ID, ATTEMPT_ID)
    assert {k: conversion[k] for k in ("offer_id", "status", "currency", "payout")} == {
        "offer_id": "7",
        "status": "approved",
        "currency": "EUR",
        "payout": "12.50",
    }
    event = macro_values(
        message(topics.EVENTS, event_id=5, event_name="signup", status="pending"),
        POSTBACK_ID,
        ATTEMPT_ID,
    )
    assert (event["event_id"], event["event_name"], event["status"]) == ("5", "signup", "pending")


def test_a_click_config_renders_missing_conversion_macros_empty() -> None:
    request = render(
        config(type="Click", url="https://pub.example/?p={payout}&s={status}&t={transaction_id}"),
        message(topics.CLICKS),
        ATTEMPT_ID,
    )
    assert request.url == "https://pub.example/?p=&s=&t=tx-1"


PLACES: dict[str, Callable[[str], dict[str, Any]]] = {
    "url": lambda macro: {"url": f"https://pub.example/pb/{{{macro}}}?v={{{macro}}}"},
    "header": lambda macro: {"headers": {"X-V": f"v={{{macro}}}"}},
    "json body": lambda macro: {"method": "POST", "body": f'{{"s":"{{{macro}}}","b":{{{macro}}}}}'},
    "form body": lambda macro: {"method": "POST", "body": f"v={{{macro}}}", "content_type": "form"},
}


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("macro", sorted(MACROS))
def test_only_the_macros_a_config_names_are_computed_and_each_renders(
    macro: str, place: str
) -> None:
    # render() computes the values of the macros its templates name, not all of them: every
    # macro in every place must come out as it does from the full set of values.
    fields = PLACES[place](macro)
    postback = config(**fields)
    every_value = macro_values(message(), POSTBACK_ID, ATTEMPT_ID)
    assert macros_used(postback) == {macro}
    request = render(postback, message(), ATTEMPT_ID)
    assert request.url == render_url(postback.url, every_value)
    if place == "header":
        header = render_header(postback.headers["X-V"], every_value)
        assert request.headers == [(b"X-V", header.encode())]
    body = postback.body or ""
    if place == "json body":
        assert request.body == render_json(body, every_value).encode()
    if place == "form body":
        assert request.body == render_form(body, every_value).encode()


@pytest.mark.parametrize(
    ("topic", "fields"),
    [
        (topics.CLICKS, {}),
        (topics.CONVERSIONS, {"sub2": None, "adv3": "x\u2028y", "payout": 3}),
        (
            topics.EVENTS,
            {"event_id": 42, "event_name": "deposit", "occurred_at": "2024-05-01T12:00:00Z"},
        ),
    ],
)
def test_the_attempt_source_is_the_models_own_json(topic: str, fields: dict[str, Any]) -> None:
    # source_json skips model_dump_json's wrapper; the bytes must be the ones it writes.
    parsed = message(topic, **fields)
    assert source_json(parsed) == parsed.model_dump_json(exclude_none=True)
