"""Every part of a postback URL is checked at save, and what passes can be sent: the dispatcher's
client and its host bookkeeping never raise for a URL the API accepted."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from dispatcher.http_client import split_url
from dispatcher.processing import host_of
from postbacks.configs import PostbackConfigIn
from postbacks.url_checks import check_url_template


def refusal(url: str) -> str:
    with pytest.raises(ValidationError) as caught:
        PostbackConfigIn.model_validate({"name": "n", "type": "Conversion", "url": url})
    errors = caught.value.errors()
    assert [e["loc"] for e in errors] == [("url",)]  # the 422 names the field
    return str(errors[0]["msg"])


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://pub.example:99999/pb", "port must be a number from 1 to 65535"),
        ("http://pub.example:0/pb", "port must be a number from 1 to 65535"),
        ("http://pub.example:80x/pb", "port must be a number from 1 to 65535"),
        ("http://pub.example:-1/pb", "port must be a number from 1 to 65535"),
        ("http://pub.example:\uff18\uff10/pb", "port must be a number from 1 to 65535"),
        ("http://[::1/pb", "cannot be parsed"),
        ("http://pub..example/pb", "not a valid host name"),
        ("http://-pub.example/pb", "not a valid host name"),
        ("http://pub.example%2F/pb", "not a valid host name"),
        (f"http://{'a' * 64}.example/pb", "not a valid host name"),
        (f"http://{'a.' * 130}example/pb", "longer than 253"),
        ("http://" + "a" * 4100, "at most 4096 characters"),
        ("http://pub.example:{sub1}/pb", "not in the host or port"),
    ],
)
def test_every_part_of_the_url_is_checked_at_save(url: str, needle: str) -> None:
    assert needle in refusal(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://pub.example:65535/pb",
        "http://pub.example:1/pb",
        "https://пример.рф/pb?t={transaction_id}",
        "http://xn--e1afmkfd.xn--p1ai/pb",
        "http://my_pub.example/pb",
        "http://[::1]:8080/pb",
        "http://127.0.0.1/pb",
        "http://user:secret@pub.example/pb",
        "http://pub.example./pb",
    ],
)
def test_valid_urls_are_accepted(url: str) -> None:
    check_url_template(url)


_host_text = st.text(st.characters(codec="utf-8"), min_size=0, max_size=70)
_port_text = st.one_of(st.integers(-5, 100_000).map(str), st.text(max_size=6), st.just(""))


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "ftp", "HTTP"]))
    userinfo = draw(st.sampled_from(["", "user@", "user:pw@", "a@b@", ":@"]))
    host = draw(
        st.one_of(
            _host_text,
            st.from_regex(r"[a-z0-9.\-_]{1,70}", fullmatch=True),
            st.sampled_from(
                ["[::1]", "[::1", "::1]", "[v7.abc]", "[::1]x", "a\\b", "[fe80::1%25eth0]"]
            ),
        )
    )
    port = draw(_port_text)
    path = draw(st.sampled_from(["/pb", "/pb?t={transaction_id}", "", "?x=1", "#f", "\\pb"]))
    return f"{scheme}://{userinfo}{host}{':' + port if port else ''}{path}"


@given(urls())
def test_a_url_the_api_accepts_can_be_sent(url: str) -> None:
    try:
        check_url_template(url)
    except ValueError:
        return
    target, _ = split_url(url)
    assert 1 <= target.port <= 65535
    assert host_of(url) == target.where  # the scheduler's host is the one connected to


@given(st.text(max_size=60))
def test_no_url_makes_the_check_raise_anything_but_a_refusal(rest: str) -> None:
    for url in (rest, f"http://{rest}", f"https://pub.example:{rest}", f"http://[{rest}]/"):
        with contextlib.suppress(ValidationError):  # a refusal is fine; anything else fails
            PostbackConfigIn.model_validate({"name": "n", "type": "Conversion", "url": url})
