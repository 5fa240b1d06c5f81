"""The lone-surrogate refusal at the parser: which field, which escape; real Unicode passes."""

from __future__ import annotations

import pytest

from postbacks.inputs import parse_input

BASE = '"offer_id": 1, "publisher_id": 2'


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (f'{{"transaction_id": "\\ud800", {BASE}}}', "transaction_id: lone surrogate \\ud800"),
        (f'{{"transaction_id": "t", "adv3": "x\\uDBFFy", {BASE}}}', "adv3: lone surrogate \\udbff"),
        # Fields the model ignores are refused too: the input is kept as the attempt's source.
        (f'{{"transaction_id": "t", "x": {{"y": ["ok", "\\udfff"]}}, {BASE}}}', "x.y[1]: lone"),
        (f'{{"transaction_id": "t", "\\udc00": 1, {BASE}}}', "message: a field name: lone"),
    ],
)
def test_a_lone_surrogate_is_refused_naming_where(document: str, reason: str) -> None:
    with pytest.raises(ValueError, match="is not valid Unicode") as refused:
        parse_input("conversions", document.encode())
    assert str(refused.value).startswith(reason)


def test_pairs_and_escaped_backslashes_are_not_lone_surrogates() -> None:
    paired = parse_input("conversions", f'{{"transaction_id": "\\ud83d\\ude00", {BASE}}}'.encode())
    assert paired.transaction_id == "\N{GRINNING FACE}"
    # "\\ud800" is a backslash followed by the text "ud800": valid, kept as written.
    text = parse_input("conversions", f'{{"transaction_id": "\\\\ud800", {BASE}}}'.encode())
    assert text.transaction_id == "\\ud800"
