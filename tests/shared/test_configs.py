"""Validation when a postback configuration is saved (design §4): what is refused names the field
and the fix; what is accepted comes back normalised and survives the trip through Kafka."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from postbacks.attempts import HttpMethod, PostbackType
from postbacks.configs import BodyFormat, PostbackConfig, PostbackConfigIn
from postbacks.inputs import ConversionStatus
from postbacks.macros import MACROS
from postbacks.templates import render_json, render_url


def payload(**fields: Any) -> dict[str, Any]:
    return {"name": "n", "type": "Conversion", "url": "https://pub.example/pb", **fields}


def post(**fields: Any) -> dict[str, Any]:
    return payload(method="POST", **fields)


def validate(fields: dict[str, Any]) -> PostbackConfigIn:
    return PostbackConfigIn.model_validate(fields)


def refusal(fields: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        validate(fields)
    return str(caught.value)


REFUSED: dict[str, tuple[dict[str, Any], list[str]]] = {
    # Unknown macros, in every place a macro can stand.
    "url unknown macro": (
        payload(url="https://pub.example/pb?t={txid}"),
        ["url", "unknown macro {txid}", "valid macros are"],
    ),
    "url macro with wrong case": (payload(url="https://pub.example/?p={Payout}"), ["{Payout}"]),
    "url macro with a space": (payload(url="https://pub.example/?p={pay out}"), ["{pay out}"]),
    "json body unknown macro": (
        post(body='{"tx": "{txid}"}'),
        ["body", "unknown macro {txid}", "valid macros are"],
    ),
    "json body unknown bare macro": (post(body='{"p": {payot}}'), ["body", "{payot}"]),
    "form body unknown macro": (
        post(body="a={txid}", content_type="form"),
        ["body", "unknown macro {txid}", "valid macros are"],
    ),
    "header unknown macro": (
        payload(headers={"X-Tx": "{txid}"}),
        ["headers", "header 'X-Tx'", "unknown macro {txid}", "valid macros are"],
    ),
    # The url itself.
    "url ftp": (
        payload(url="ftp://pub.example/pb"),
        ["url", "must start with http:// or https://"],
    ),
    "url without scheme": (payload(url="pub.example/pb"), ["url", "http:// or https://"]),
    "url without host": (payload(url="http:///pb"), ["url", "must name a host", "https://"]),
    "url with space": (payload(url="https://pub.example/p b"), ["url", "must not contain spaces"]),
    "url with tab": (payload(url="https://pub.example/p\tb"), ["url", "tabs"]),
    "url with newline": (payload(url="https://pub.example/p\nb"), ["url", "line breaks"]),
    "url with CR": (payload(url="https://pub.example/p\rb"), ["url", "line breaks"]),
    "url empty": (payload(url=""), ["url", "at least 1 character"]),
    # Bodies.
    "body on GET": (
        payload(method="GET", body='{"a": 1}'),
        ["body", "GET postback cannot have a body", "use method POST"],
    ),
    "json body unclosed": (
        post(body='{"tx": "{transaction_id}"'),
        ["body", "not valid JSON once rendered", 'put macros inside strings ("tx"'],
    ),
    "json body macro glued to text": (
        post(body='{"tx": x{transaction_id}}'),
        ["body", "not valid JSON once rendered", '"payout": {payout}'],
    ),
    "json body numeric macro as key": (post(body="{{payout}: 1}"), ["body", "not valid JSON"]),
    "json body not json": (post(body="tx={transaction_id}"), ["body", "not valid JSON"]),
    # Header names and values.
    "header name with space": (payload(headers={"X A": "1"}), ["headers", "not a valid HTTP"]),
    "header name with colon": (payload(headers={"X:A": "1"}), ["headers", "no spaces, ':'"]),
    "header name with newline": (payload(headers={"X\nA": "1"}), ["headers", "line breaks"]),
    "header name empty": (payload(headers={"": "1"}), ["headers", "not a valid HTTP header"]),
    "header name non-ascii": (payload(headers={"X-É": "1"}), ["headers", "letters, digits"]),
    "header name too long": (payload(headers={"X" * 101: "1"}), ["headers", "not a valid"]),
    **{
        f"reserved header {name}": (
            payload(headers={name: "x"}),
            ["headers", f"header {name!r} is set by Postbacks itself"],
        )
        for name in ["Host", "content-length", "Transfer-Encoding", "CONNECTION"]
    },
    "reserved attempt id header": (
        payload(headers={"X-Postback-Attempt-Id": "{attempt_id}"}),
        ["headers", "set by Postbacks itself"],
    ),
    "duplicate header names": (
        payload(headers={"X-A": "1", "x-a": "2"}),
        ["headers", "header 'x-a' is given twice", "case-insensitive"],
    ),
    **{
        f"header value with {label}": (
            payload(headers={"X-A": f"a{char}b"}),
            ["headers", "header 'X-A': value must not contain CR, LF or NUL"],
        )
        for label, char in [("CR", "\r"), ("LF", "\n"), ("NUL", "\0")]
    },
    # Numbers and combinations.
    "timeout 99": (payload(timeout_ms=99), ["timeout_ms", "greater than or equal to 100"]),
    "timeout 30001": (payload(timeout_ms=30001), ["timeout_ms", "less than or equal to 30000"]),
    "negative offer": (payload(offer_id=-1), ["offer_id", "greater than or equal to 0"]),
    "event_id on Conversion": (
        payload(event_id="5"),
        ["event_id is only allowed when type is Event"],
    ),
    "event_id on Click": (
        payload(type="Click", event_id=5),
        ["event_id is only allowed when type is Event"],
    ),
    "statuses on Click": (
        payload(type="Click", statuses=["rejected"]),
        ["statuses only apply to Conversion and Event postbacks"],
    ),
    "extra statuses on Click": (
        payload(type="Click", statuses=["approved", "pending"]),
        ["statuses only apply to Conversion and Event"],
    ),
    "no statuses": (payload(statuses=[]), ["statuses", "at least 1 item"]),
    "unknown status": (payload(statuses=["paid"]), ["statuses", "'approved', 'pending'"]),
    "unknown type": (payload(type="Sale"), ["type", "'Click', 'Conversion' or 'Event'"]),
    "unknown method": (payload(method="PUT"), ["method", "'GET' or 'POST'"]),
    "unknown content type": (post(body="", content_type="xml"), ["content_type", "'json'"]),
    # Names.
    "name with leading space": (payload(name=" n"), ["name", "must not start or end with spaces"]),
    "name with trailing space": (payload(name="n "), ["name", "must not start or end"]),
    "name of spaces": (payload(name="   "), ["name", "must not start or end with spaces"]),
    "name empty": (payload(name=""), ["name", "at least 1 character"]),
    "unknown field": (payload(colour="red"), ["colour", "Extra inputs are not permitted"]),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_configs_name_the_field_and_the_fix(case: str) -> None:
    fields, needles = REFUSED[case]
    message = refusal(fields)
    for needle in needles:
        assert needle in message


def test_an_unknown_macro_error_lists_every_valid_macro() -> None:
    message = refusal(payload(url="https://pub.example/?t={tx}"))
    for name in MACROS:
        assert f"{{{name}}}" in message


@pytest.mark.parametrize("type_", ["Click", "Conversion", "Event"])
@pytest.mark.parametrize(("offer_id", "publisher_id"), [(None, None), (7, None), (None, 9), (7, 9)])
def test_every_type_and_scope_is_accepted(
    type_: str, offer_id: int | None, publisher_id: int | None
) -> None:
    config = validate(payload(type=type_, offer_id=offer_id, publisher_id=publisher_id))
    assert config.type is PostbackType(type_)
    assert (config.offer_id, config.publisher_id) == (offer_id, publisher_id)
    assert config.statuses == [ConversionStatus.APPROVED]
    assert config.event_id is None
    assert (config.method, config.body, config.headers) == (HttpMethod.GET, None, {})
    assert (config.timeout_ms, config.enabled) == (10000, True)


def test_offer_and_publisher_zero_are_a_scope_not_any() -> None:
    config = validate(payload(offer_id=0, publisher_id=0))
    assert (config.offer_id, config.publisher_id) == (0, 0)


@pytest.mark.parametrize(("given", "stored"), [(5, "5"), ("5", "5"), ("signup", "signup")])
def test_event_id_is_kept_as_text(given: int | str, stored: str) -> None:
    assert validate(payload(type="Event", event_id=given)).event_id == stored


def test_statuses_are_deduplicated_and_sorted() -> None:
    config = validate(payload(statuses=["rejected", "approved", "rejected", "pending"]))
    assert config.statuses == [
        ConversionStatus.APPROVED,
        ConversionStatus.PENDING,
        ConversionStatus.REJECTED,
    ]
    event = validate(payload(type="Event", statuses=["rejected", "rejected"]))
    assert event.statuses == [ConversionStatus.REJECTED]


def test_click_may_spell_out_the_default_statuses() -> None:
    config = validate(payload(type="Click", statuses=["approved", "approved"]))
    assert config.statuses == [ConversionStatus.APPROVED]


@pytest.mark.parametrize(
    "body",
    [
        '{"tx": "{transaction_id}", "payout": {payout}, "sub": {sub1}, "missing": {adv9}}',
        '{"nested": {"list": [{payout}, "{sub2}", {"k": "{ not a macro }"}]}}',
        r'{"quote": "he said \"{sub1}\"", "backslash": "\\{sub2}\\"}',
        "[{payout}, {revenue}]",
        "{}",
    ],
)
def test_post_with_a_json_body_is_accepted(body: str) -> None:
    config = validate(post(body=body))
    assert (config.method, config.body, config.content_type) == (
        HttpMethod.POST,
        body,
        BodyFormat.JSON,
    )


def test_post_with_a_form_body_is_accepted() -> None:
    body = "tx={transaction_id}&p={payout}&s={sub1}"
    config = validate(post(body=body, content_type="form"))
    assert (config.body, config.content_type) == (body, BodyFormat.FORM)


def test_post_without_a_body_is_accepted() -> None:
    config = validate(post())
    assert (config.method, config.body) == (HttpMethod.POST, None)


def test_headers_with_macros_are_accepted() -> None:
    headers = {
        "Authorization": "Bearer {sub1}",
        "X-Tx": "{transaction_id}-{attempt_id}",
        "Content-Type": "application/vnd.pub+json",
        "X-Tab": "a\tb",
    }
    assert validate(post(body="{}", headers=headers)).headers == headers


@pytest.mark.parametrize("timeout_ms", [100, 30_000])
def test_timeout_bounds_are_accepted(timeout_ms: int) -> None:
    assert validate(payload(timeout_ms=timeout_ms)).timeout_ms == timeout_ms


@pytest.mark.parametrize(
    "url",
    [
        "http://pub.example/pb",
        "https://pub.example:8443/p/{sub2}/x?a={sub1}&b={transaction_id}#frag",
        "https://127.0.0.1/?t={timestamp}&d={datetime}",
    ],
)
def test_http_and_https_urls_with_macros_are_accepted(url: str) -> None:
    assert validate(payload(url=url)).url == url


def test_a_name_with_inner_spaces_is_accepted() -> None:
    assert validate(payload(name="Pub 42 — approved")).name == "Pub 42 — approved"


def full_config(**fields: Any) -> PostbackConfig:
    created = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    everything = {
        "body": '{"tx": "{transaction_id}", "payout": {payout}, "note": "é \\"{sub1}\\""}',
        **fields,
    }
    payload_in = validate(
        post(
            name="Everything set",
            type="Event",
            offer_id=7,
            publisher_id=9,
            event_id=5,
            statuses=["rejected", "approved"],
            url="https://pub.example:8443/p/{sub2}?tx={transaction_id}#f",
            headers={"Authorization": "Bearer {sub3}", "X-Event": "{event_name}"},
            timeout_ms=1234,
            enabled=False,
            **everything,
        )
    )
    return PostbackConfig.stamp(
        payload_in,
        id=uuid.uuid4(),
        created_at=created,
        now=created + timedelta(minutes=5),
        version=3,
    )


@pytest.mark.parametrize("content", [{}, {"body": "a={sub1}&b={payout}", "content_type": "form"}])
def test_a_full_config_survives_the_json_round_trip_through_kafka(content: dict[str, Any]) -> None:
    config = full_config(**content)
    assert PostbackConfig.model_validate_json(config.model_dump_json()) == config
    # Bytes as they sit on the topic, as another producer would write them.
    rewritten = json.dumps(json.loads(config.model_dump_json()), ensure_ascii=True)
    assert PostbackConfig.model_validate_json(rewritten) == config


@pytest.mark.parametrize(
    ("body", "values"),
    [
        ("{{sub1}: 1}", {}),
        ('{"a": {payout}0}', {}),
        ('{"a": -{payout}}', {"payout": "-5"}),
        ('{"a": {payout}{revenue}}', {}),
    ],
)
def test_a_json_body_that_some_value_would_break_is_refused_at_save(
    body: str, values: dict[str, str]
) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(render_json(body, values))  # the value that breaks it
    with pytest.raises(ValidationError, match="body: not valid JSON once rendered"):
        validate(post(body=body))


@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\x00", "\x1f", "\x7f"])
def test_a_url_httpx_could_not_send_is_refused_at_save(char: str) -> None:
    url = f"https://pub.example/p{char}q?t={{transaction_id}}"
    with pytest.raises(httpx.InvalidURL):
        httpx.Request("GET", render_url(url, {"transaction_id": "t"}))
    with pytest.raises(ValidationError, match="control characters"):
        validate(payload(url=url))


# Retry policy and delay (issue 9 item 5): off by default, bounded, and each refusal names its
# field first, as the pages place a message beside the field it starts with.
def test_retries_and_delay_are_off_by_default() -> None:
    config = validate(payload())
    assert (config.retry_max_attempts, config.delay_ms) == (1, 0)
    assert (config.retry_initial_delay_ms, config.retry_max_delay_ms) == (1000, 60_000)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"retry_max_attempts": 0}, "retry_max_attempts"),
        ({"retry_max_attempts": 11}, "retry_max_attempts"),
        ({"retry_initial_delay_ms": 99}, "retry_initial_delay_ms"),
        ({"retry_max_delay_ms": 600_001}, "retry_max_delay_ms"),
        ({"delay_ms": -1}, "delay_ms"),
        ({"delay_ms": 300_001}, "delay_ms"),
    ],
)
def test_retry_and_delay_bounds_name_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate(payload(**fields))
    assert [e["loc"] for e in caught.value.errors()] == [(field,)]


def test_the_longest_wait_must_be_at_least_the_first() -> None:
    message = refusal(payload(retry_initial_delay_ms=5000, retry_max_delay_ms=1000))
    assert "retry_max_delay_ms (1000) must be at least retry_initial_delay_ms (5000)" in message


def test_a_retry_policy_within_bounds_is_kept() -> None:
    fields = {"retry_max_attempts": 10, "retry_initial_delay_ms": 100}
    fields |= {"retry_max_delay_ms": 600_000, "delay_ms": 300_000}
    config = validate(payload(**fields))
    assert config.model_dump(include=set(fields)) == fields
