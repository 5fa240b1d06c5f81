"""No macro value can change the structure a template gives it (design §4).

Each property renders a template with arbitrary values and decodes the result with an
independent parser (urllib, json, h11), so the oracle is never the code under test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from urllib.parse import parse_qs, unquote, urlsplit

import h11
import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from postbacks.macros import NUMERIC_MACROS
from postbacks.templates import render_form, render_header, render_json, render_url

Values = Mapping[str, str]

# Strings that look like numbers to a person but are not all JSON numbers.
NUMBER_LIKE = [
    "0", "-0", "12.50", "1e5", "-1.5E-3", "1e999", "01", "1.", ".5", "+1", "-", "1e", "0x10",
    "1_000", " 1", "1 ", "1\n", "NaN", "Infinity", "-Infinity", "true", "null", "\u0661",
]  # fmt: skip
# Characters that break naive escaping: quotes, backslashes, controls, braces, line separators.
TRICKY = st.sampled_from('"\\\x00\x01\x08\t\n\r\x1f\x7f\x85\u2028\u2029{}&=?#/%+ ;é\U0001f600')

VALUE = st.one_of(
    st.text(max_size=30),
    st.text(TRICKY, max_size=10),
    st.sampled_from(NUMBER_LIKE),
    st.from_regex(r"-?(0|[1-9][0-9]{0,5})(\.[0-9]{1,4})?([eE][+-]?[0-9]{1,2})?", fullmatch=True),
)


def values_for(*names: str) -> st.SearchStrategy[dict[str, str]]:
    """Any subset of `names` has a value; the others are missing."""
    return st.fixed_dictionaries({}, optional=dict.fromkeys(names, VALUE))


PROPERTY = settings(max_examples=300, deadline=None)

URL_TEMPLATE = (
    "https://pub.example:8443/p/{sub2}/x?a={sub1}&b={transaction_id}&c={payout}&d=1#f{sub3}"
)


@PROPERTY
@given(values=values_for("sub1", "sub2", "sub3", "transaction_id", "payout"))
@example(values={"sub1": "x&b=evil", "sub2": "../../admin?q=1#f", "payout": "1 2"})
def test_url_values_never_change_host_path_or_parameters(values: Values) -> None:
    url = render_url(URL_TEMPLATE, values)
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port) == ("https", "pub.example", 8443)
    segments = parts.path.split("/")
    assert segments[:2] == ["", "p"]
    assert segments[3:] == ["x"]
    assert unquote(segments[2], errors="strict") == values.get("sub2", "")
    assert parse_qs(parts.query, keep_blank_values=True, strict_parsing=True) == {
        "a": [values.get("sub1", "")],
        "b": [values.get("transaction_id", "")],
        "c": [values.get("payout", "")],
        "d": ["1"],
    }
    assert unquote(parts.fragment, errors="strict") == "f" + values.get("sub3", "")
    # What the HTTP client sends: same host, port, path shape and parameters.
    sent = httpx.URL(url)
    assert (sent.host, sent.port) == ("pub.example", 8443)
    assert sent.params.multi_items() == [
        ("a", values.get("sub1", "")),
        ("b", values.get("transaction_id", "")),
        ("c", values.get("payout", "")),
        ("d", "1"),
    ]


@pytest.mark.parametrize("value", [".", ".."])
def test_a_path_value_cannot_remove_path_segments_on_the_wire(value: str) -> None:
    url = render_url("https://pub.example/p/{sub2}/x", {"sub2": value})
    sent = httpx.Request("GET", url).url.raw_path
    segments = sent.split(b"/")
    assert segments[:2] == [b"", b"p"]
    assert segments[3:] == [b"x"]
    assert unquote(segments[2].decode("ascii")) == value


@PROPERTY
@given(values=values_for("sub1", "sub2"))
@example(values={"sub1": "x&b=evil", "sub2": "a+b c=%20"})
def test_form_values_decode_back_exactly_and_never_add_fields(values: Values) -> None:
    body = render_form("a={sub1}&b={sub2}", values)
    assert parse_qs(body, keep_blank_values=True, strict_parsing=True) == {
        "a": [values.get("sub1", "")],
        "b": [values.get("sub2", "")],
    }


def _reject_constant(name: str) -> object:
    raise ValueError(name)


def is_json_number(text: str) -> bool:
    """Whether `text` is exactly one JSON number (RFC 8259 §6), decided by the json module."""
    if not text or text != text.strip(" \t\n\r"):
        return False
    try:
        parsed = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return False
    return isinstance(parsed, int | float) and not isinstance(parsed, bool)


def in_string(values: Values, name: str) -> str:
    return values.get(name, "")


def bare(values: Values, name: str) -> object:
    if name not in values:
        return None
    value = values[name]
    if name in NUMERIC_MACROS and is_json_number(value):
        return json.loads(value)
    return value


# (template, the document it must decode to for given values)
JSON_CASES: dict[str, tuple[str, Callable[[Values], object]]] = {
    "in-string": (
        r'{"tx": "{transaction_id}", "mixed": "a{sub1}b{sub2}c", "payout": "{payout}"}',
        lambda v: {
            "tx": in_string(v, "transaction_id"),
            "mixed": "a" + in_string(v, "sub1") + "b" + in_string(v, "sub2") + "c",
            "payout": in_string(v, "payout"),
        },
    ),
    "escapes-in-template": (
        r'{"note": "he said \"{sub1}\" \\ {sub2}\\", "uni": "\u00e9{sub3}\n"}',
        lambda v: {
            "note": 'he said "' + in_string(v, "sub1") + '" \\ ' + in_string(v, "sub2") + "\\",
            "uni": "é" + in_string(v, "sub3") + "\n",
        },
    ),
    "bare-numeric": (
        r'{"payout": {payout}, "revenue":{revenue}, "ts": {timestamp}, "offer": {offer_id}}',
        lambda v: {
            "payout": bare(v, "payout"),
            "revenue": bare(v, "revenue"),
            "ts": bare(v, "timestamp"),
            "offer": bare(v, "offer_id"),
        },
    ),
    "bare-non-numeric": (
        r'{"sub": {sub1}, "status": {status}, "list": [{sub2}, {adv1}]}',
        lambda v: {
            "sub": bare(v, "sub1"),
            "status": bare(v, "status"),
            "list": [bare(v, "sub2"), bare(v, "adv1")],
        },
    ),
    "nested": (
        r'{"outer": {"inner": ["{sub1}", {payout}, {"deep": "{sub2}", "n": {sale_amount}}]},'
        r' "arr": [[{revenue}], "{adv2}", {adv3}], "k": {}}',
        lambda v: {
            "outer": {
                "inner": [
                    in_string(v, "sub1"),
                    bare(v, "payout"),
                    {"deep": in_string(v, "sub2"), "n": bare(v, "sale_amount")},
                ]
            },
            "arr": [[bare(v, "revenue")], in_string(v, "adv2"), bare(v, "adv3")],
            "k": {},
        },
    ),
    "braces-in-literals": (
        r'{"{": "}", "}{": "{sub1}", "lit": "{ not a macro } {", "double": "{{sub2}}",'
        r' "q": "\"{\" {sub3} \"}\""}',
        lambda v: {
            "{": "}",
            "}{": in_string(v, "sub1"),
            "lit": "{ not a macro } {",
            "double": "{" + in_string(v, "sub2") + "}",
            "q": '"{" ' + in_string(v, "sub3") + ' "}"',
        },
    ),
    "top-level-array": (
        r'[{payout}, "{sub1}", {sub2}]',
        lambda v: [bare(v, "payout"), in_string(v, "sub1"), bare(v, "sub2")],
    ),
}
JSON_NAMES = (
    "transaction_id", "payout", "revenue", "sale_amount", "timestamp", "offer_id", "status",
    "sub1", "sub2", "sub3", "adv1", "adv2", "adv3",
)  # fmt: skip


def test_every_json_case_is_itself_a_saveable_template() -> None:
    # The templates above are realistic: each renders to JSON with all values present.
    for template, _ in JSON_CASES.values():
        json.loads(render_json(template, dict.fromkeys(JSON_NAMES, "1")))


@pytest.mark.parametrize("case", list(JSON_CASES))
@settings(max_examples=150, deadline=None)
@given(values=values_for(*JSON_NAMES))
@example(values={})
@example(values=dict.fromkeys(JSON_NAMES, '"\\\x00\u2028'))
@example(values={"payout": "1e5", "revenue": "-0", "timestamp": "01", "offer_id": "1."})
@example(values={"payout": "NaN", "revenue": "Infinity", "sale_amount": " 1", "sub1": "1"})
def test_json_values_decode_back_exactly_and_keep_the_structure(case: str, values: Values) -> None:
    template, expected = JSON_CASES[case]
    assert json.loads(render_json(template, values)) == expected(values)


def test_json_number_oracle_agrees_with_the_rfc() -> None:
    numbers = ["0", "-0", "12.50", "1e5", "-1.5E-3", "1E+2", "1e999"]
    not_numbers = ["01", "1.", ".5", "+1", "-", "1e", "0x10", " 1", "1\n", "NaN", "Infinity"]
    assert [is_json_number(n) for n in numbers] == [True] * len(numbers)
    assert [is_json_number(n) for n in not_numbers] == [False] * len(not_numbers)


ASCII_CONTROLS = {chr(c) for c in range(0x20)} - {"\t"} | {"\x7f"}


@PROPERTY
@pytest.mark.parametrize("template", ["{sub1}", "Bearer {sub1}; tx={transaction_id}"])
@given(values=values_for("sub1", "transaction_id"))
@example(values={"sub1": "a\r\nX-Injected: 1\r\n\r\nbody", "transaction_id": "\x00"})
def test_header_values_cannot_hold_control_characters(template: str, values: Values) -> None:
    rendered = render_header(template, values)
    assert not ASCII_CONTROLS & set(rendered)
    httpx.Request("POST", "http://127.0.0.1/", headers=[(b"X-Test", rendered.encode())])


@pytest.mark.parametrize(
    ("template", "value"), [("{sub1}", " x"), ("{sub1}", "x\n"), ("{sub1}", "\t")]
)
def test_a_rendered_header_value_is_one_h11_will_send(template: str, value: str) -> None:
    rendered = render_header(template, {"sub1": value})
    h11.Request(
        method="POST", target="/", headers=[(b"Host", b"a"), (b"X-Test", rendered.encode())]
    )
