"""Input messages on the clicks, conversions and events topics (design §3)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import msgspec
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
)

from postbacks import topics
from postbacks.attempts import UINT64_MAX


class ConversionStatus(StrEnum):
    APPROVED = "approved"
    PENDING = "pending"
    REJECTED = "rejected"


def _number_as_text(value: Any) -> Any:
    # An event id of 5 and "5" are the same event: keep ints as their decimal text.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _now() -> datetime:
    return datetime.now(UTC)


# Bounds on every value, so an input fits the attempt log's columns (UInt64 ids, DateTime64's
# years) and no value can make rendering or the attempt record grow without bound: an amount
# like 1e999999999 would render a billion digits.
NonEmpty = Annotated[str, Field(min_length=1, max_length=256)]
Sub = Annotated[str | None, Field(default=None, max_length=1024)]
Id = Annotated[int, Field(ge=0, le=UINT64_MAX)]
Amount = Annotated[Decimal, Field(max_digits=40, decimal_places=20, allow_inf_nan=False)]
# Checked inside pydantic-core: an AfterValidator, a Python call, cost 15 % of parse_input.
OccurredAt = Annotated[
    AwareDatetime,
    Field(ge=datetime(1900, 1, 1, tzinfo=UTC), le=datetime(2299, 12, 31, 23, 59, 59, tzinfo=UTC)),
]


class ClickInput(BaseModel):
    """A click: the fields every input carries."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    transaction_id: NonEmpty
    offer_id: Id
    publisher_id: Id
    occurred_at: OccurredAt = Field(default_factory=_now)
    sub1: Sub = None
    sub2: Sub = None
    sub3: Sub = None
    sub4: Sub = None
    sub5: Sub = None
    sub6: Sub = None
    sub7: Sub = None
    sub8: Sub = None
    sub9: Sub = None
    sub10: Sub = None
    adv1: Sub = None
    adv2: Sub = None
    adv3: Sub = None
    adv4: Sub = None
    adv5: Sub = None
    adv6: Sub = None
    adv7: Sub = None
    adv8: Sub = None
    adv9: Sub = None
    adv10: Sub = None


class ConversionInput(ClickInput):
    click_id: Sub = None
    status: ConversionStatus = ConversionStatus.APPROVED
    payout: Amount | None = None
    revenue: Amount | None = None
    sale_amount: Amount | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    rejection_reason: Sub = None


class EventInput(ConversionInput):
    event_id: Annotated[NonEmpty, BeforeValidator(_number_as_text)]
    event_name: Sub = None


INPUT_MODELS: dict[str, type[ClickInput]] = {
    topics.CLICKS: ClickInput,
    topics.CONVERSIONS: ConversionInput,
    topics.EVENTS: EventInput,
}

_adapters: dict[str, TypeAdapter[Any]] = {t: TypeAdapter(m) for t, m in INPUT_MODELS.items()}


def parse_input(topic: str, value: bytes | None) -> ClickInput:
    """Decode one Kafka value from an input topic; raises pydantic.ValidationError or ValueError."""
    if value is None:
        raise ValueError("message has no value (tombstone)")
    # Floats as Decimal: a payout sent as the JSON number 12.50 keeps its digits ("12.50"),
    # which a float would round ("12.5", or worse for large amounts). msgspec decodes about 7x
    # faster than json.loads(parse_float=Decimal), a visible share of the dispatcher's time per
    # input; whatever it refuses is decoded again by json, whose errors name what is wrong.
    try:
        document = _DECODER.decode(value)
    except msgspec.DecodeError:
        document = _json_document(value)
    if _SURROGATE_ESCAPE.search(value):
        _refuse_lone_surrogates(document, "")
    model: ClickInput = _adapters[topic].validate_python(document)
    return model


def _json_document(value: bytes) -> Any:
    try:
        return json.loads(value, parse_float=_number)
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid JSON: the bytes are not UTF-8 ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from exc


class OutOfRange:
    """A JSON number no field can hold. Kept out of Decimal: pydantic turns a Decimal into an
    int for an id field, and 1e999999999 as an int has a billion digits (minutes of CPU and
    gigabytes, found by tests/e2e/test_poison_containment.py). Every field refuses this
    object at once, by name."""

    def __init__(self, text: str) -> None:
        self._text = text[:40]

    def __repr__(self) -> str:
        return f"{self._text} (more than {NUMBER_DIGITS} digits before or after the point)"


NUMBER_DIGITS = 40  # amounts hold 40 digits, ids 20: no field holds a number past this


def _number(text: str) -> Decimal | OutOfRange:
    """A JSON number with a fraction or an exponent (msgspec and json hand over its text)."""
    value = Decimal(text)
    if value.is_finite() and -NUMBER_DIGITS <= value.adjusted() <= NUMBER_DIGITS:
        return value
    return OutOfRange(text)


_DECODER = msgspec.json.Decoder(float_hook=_number)

# Python's json accepts an escaped lone surrogate ("\\ud800") and yields a str that no UTF-8
# encoder takes: orjson and msgspec refuse it when the dispatcher encodes the attempt, which would
# fail the whole batch. Raw UTF-8 bytes cannot carry a surrogate (the decoder refuses them), so
# only documents holding such an escape need the walk below.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate_reason(value: bytes) -> str | None:
    """Why a JSON document with an escaped lone surrogate is refused, naming the field; None
    when it has none (or is not JSON). For readers that decode with msgspec, whose own error
    for it ("Input data was truncated") does not say what is wrong."""
    if not _SURROGATE_ESCAPE.search(value):
        return None
    try:
        _refuse_lone_surrogates(json.loads(value), "")
    except ValueError as exc:  # JSONDecodeError included: then it is not about surrogates
        return None if isinstance(exc, json.JSONDecodeError) else str(exc)
    return None


def _refuse_lone_surrogates(node: Any, path: str) -> None:
    """Raise ValueError naming the first field (by its path) whose value or name holds one."""
    if isinstance(node, str):
        _check_text(node, path or "message")
    elif isinstance(node, dict):
        for key, item in node.items():
            _check_text(key, f"{path or 'message'}: a field name")
            _refuse_lone_surrogates(item, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _refuse_lone_surrogates(item, f"{path}[{index}]")


def _check_text(text: str, where: str) -> None:
    # The reason names the escape as text: the surrogate itself could not go into a dead letter.
    if found := _SURROGATE.search(text):
        raise ValueError(
            f"{where}: lone surrogate \\u{ord(found.group()):04x} is not valid Unicode (a JSON "
            "\\u escape from d800 to dfff must be a high surrogate followed by a low one)"
        )
