"""Every input value is bounded to what the log's columns and the rendering can hold: past a
bound it is refused naming the field (a dead letter), and refused at once, whatever its size."""

from __future__ import annotations

import orjson
import pytest

from dispatcher.config_table import ConfigTable
from dispatcher.kafka_inputs import Record
from dispatcher.processing import plan, rejection_reason
from postbacks import topics
from postbacks.inputs import ConversionInput, parse_input

BASE = '"transaction_id": "t", "offer_id": 1, "publisher_id": 2'


def refusal(extra: str, topic: str = topics.CONVERSIONS) -> str:
    document = "{" + BASE + ", " + extra + "}"
    with pytest.raises(ValueError, match=r".") as caught:  # ValidationError is a ValueError
        parse_input(topic, document.encode())
    return rejection_reason(caught.value)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ('"offer_id": 18446744073709551616', "offer_id: Input should be less than or equal to"),
        ('"publisher_id": -1', "publisher_id: Input should be greater than or equal to 0"),
        # As an int, 1e999999999 has a billion digits: pydantic took minutes and gigabytes.
        ('"offer_id": 1e999999999', "offer_id: 1e999999999 (more than 40 digits"),
        ('"publisher_id": 1.5e60', "publisher_id: 1.5e60 (more than 40 digits"),
        ('"payout": 1e999999999', "payout: 1e999999999 (more than 40 digits"),
        ('"payout": -1e-999999999', "payout: -1e-999999999 (more than 40 digits"),
        ('"payout": 12345678901234567890123.5', "payout: Decimal input should have no more than"),
        ('"revenue": 0.000000000000000000001', "revenue: Decimal input should have no more than"),
        ('"sale_amount": NaN', "sale_amount: Input should be a finite number"),
        ('"payout": "Infinity"', "payout: Input should be a finite number"),
        ('"occurred_at": "0001-01-01T00:00:00+01:00"', "occurred_at: Input should be greater"),
        ('"occurred_at": "9999-12-31T23:59:59-23:59"', "occurred_at: Input should be less"),
        ('"sub1": "' + "x" * 1025 + '"', "sub1: String should have at most 1024 characters"),
        ('"transaction_id": "' + "t" * 257 + '"', "transaction_id: String should have at most"),
    ],
)
def test_a_value_past_its_bound_is_refused_naming_the_field(extra: str, needle: str) -> None:
    assert needle in refusal(extra)


def test_values_at_their_bounds_are_kept() -> None:
    document = (
        '{"transaction_id": "' + "t" * 256 + '", "offer_id": 18446744073709551615, '
        '"publisher_id": 0, "payout": 12345678901234567890.12345678901234567890, '
        '"occurred_at": "2299-12-31T23:59:59Z", "sub1": "' + "s" * 1024 + '"}'
    )
    message = parse_input(topics.CONVERSIONS, document.encode())
    assert message.offer_id == 2**64 - 1
    assert isinstance(message, ConversionInput)
    assert str(message.payout) == "12345678901234567890.12345678901234567890"


@pytest.mark.parametrize("value", [b"[" * 100_000, b'{"a":' * 100_000])
def test_json_nested_too_deeply_is_a_dead_letter_that_says_so(value: bytes) -> None:
    decided = plan(ConfigTable(), Record(topics.CONVERSIONS, 0, 9, None, value))
    assert decided.jobs == []
    assert decided.dead_letter is not None
    assert orjson.loads(decided.dead_letter)["reason"] == "invalid message: JSON nested too deeply"
