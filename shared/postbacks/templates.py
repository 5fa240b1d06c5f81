"""Rendering that values cannot break (design §4).

Each place a macro can stand has its own encoding, so no value can change the structure around
it: percent-encoding in URLs (query-component rules: nothing is left unencoded, so a value never
adds a parameter, a path segment or a fragment), form encoding in form bodies, JSON escaping in
JSON bodies, and no control characters in header values. A macro with no value renders empty
(`null` when it stands bare in JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import quote, quote_plus

from postbacks.macros import JSON_PLACEHOLDER, NUMERIC_MACROS, PLACEHOLDER

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_HEADER_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# What quote(value, safe="") leaves as it is: such a value needs no encoding (the common case).
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]+")


def render_url(template: str, values: Mapping[str, str]) -> str:
    head, macros = _url_pieces(template)
    out = [head]
    for name, in_path, tail in macros:
        value = values.get(name, "")
        if value and not _URL_SAFE.fullmatch(value):
            value = quote(value, safe="")
        if in_path:
            # Before the '?' a value is a path segment: its dots are encoded too, because "."
            # or ".." would be a dot-segment that HTTP clients remove, with a segment of the path.
            value = value.replace(".", "%2E")
        out.append(value)
        out.append(tail)
    return "".join(out)


@lru_cache(maxsize=4096)
def _url_pieces(template: str) -> tuple[str, tuple[tuple[str, bool, str], ...]]:
    """A URL template split once: the text before the first macro, then per macro its name,
    whether it stands before the '?', and the text up to the next macro. Templates are few and
    long-lived (one per configuration): a regex callback per macro per postback cost more than
    the values did."""
    query_start = template.find("?")
    query_start = len(template) if query_start < 0 else query_start
    matches = list(PLACEHOLDER.finditer(template))
    starts = [m.start() for m in matches] + [len(template)]
    return template[: starts[0]], tuple(
        (m.group(1), m.start() < query_start, template[m.end() : starts[i + 1]])
        for i, m in enumerate(matches)
    )


def render_form(template: str, values: Mapping[str, str]) -> str:
    """`application/x-www-form-urlencoded`: a value cannot add a field or split one."""
    return PLACEHOLDER.sub(lambda m: quote_plus(values.get(m.group(1), ""), safe=""), template)


def render_header(template: str, values: Mapping[str, str]) -> str:
    """A header value; control characters (CR and LF above all) become spaces, so a value can
    never end the header and start another; whitespace at either end is dropped."""
    rendered = PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template)
    # HTTP forbids leading and trailing whitespace in a field value (h11 refuses to send it).
    return _HEADER_UNSAFE.sub(" ", rendered).strip(" \t")


def render_json(template: str, values: Mapping[str, str]) -> str:
    """A JSON body. A macro inside a JSON string is escaped as string content; a bare macro
    becomes a JSON value: a number for numeric macros whose value is a number, `null` when there
    is no value, otherwise a string. Either way the document's structure is the template's."""
    out: list[str] = []
    in_string = False
    i = 0
    while i < len(template):
        char = template[i]
        if in_string and char == "\\":
            out.append(template[i : i + 2])
            i += 2
            continue
        if char == '"':
            in_string = not in_string
        match = JSON_PLACEHOLDER.match(template, i) if char == "{" else None
        if match is None:
            out.append(char)
            i += 1
            continue
        name, value = match.group(1), values.get(match.group(1))
        if in_string:
            out.append(json.dumps(value or "", ensure_ascii=False)[1:-1])
        else:
            out.append(_bare_json_value(name, value))
        i = match.end()
    return "".join(out)


def _bare_json_value(name: str, value: str | None) -> str:
    if value is None:
        return "null"
    if name in NUMERIC_MACROS and _JSON_NUMBER.fullmatch(value):
        return value
    return json.dumps(value, ensure_ascii=False)
