"""split_url: the origin and the request target of a URL, as the request line sends them."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.failures import RequestFailed
from dispatcher.http_client import split_url

# The rule, written as plainly as possible: percent-encode when anything outside printable
# ASCII without space (\x21-\x7e) stands in the path.
_UNSAFE = re.compile(r"[^\x21-\x7e]")
_KEEP = "!#$%&'()*+,/:;=?@[]~"


@pytest.mark.parametrize(
    ("url", "host", "port", "path"),
    [
        ("http://pub.test/pb?tx=1", "pub.test", 80, "/pb?tx=1"),
        ("https://pub.test:8443/pb", "pub.test", 8443, "/pb"),
        ("http://pub.test", "pub.test", 80, "/"),
        ("http://pub.test?tx=1", "pub.test", 80, "/?tx=1"),
        ("http://pub.test/pb#frag?x", "pub.test", 80, "/pb"),
        ("http://user:pw@pub.test:81/p", "pub.test", 81, "/p"),
        ("http://[::1]:8080/p", "::1", 8080, "/p"),
        ("http://pub.test/é", "pub.test", 80, "/%C3%A9"),
        ("http://pub.test/a b", "pub.test", 80, "/a%20b"),
        ("http://pub.test/a\x7fb", "pub.test", 80, "/a%7Fb"),
    ],
)
def test_examples(url: str, host: str, port: int, path: str) -> None:
    target, sent = split_url(url)
    assert (target.host, target.port, sent) == (host, port, path)


@given(st.text(max_size=40) | st.text(st.characters(max_codepoint=0x7F), max_size=40))
def test_the_path_is_encoded_exactly_when_it_holds_something_unsafe(tail: str) -> None:
    tail = "/" + tail.replace("#", "")
    _, sent = split_url("http://pub.test" + tail)
    assert sent == (quote(tail, safe=_KEEP) if _UNSAFE.search(tail) else tail)
    assert not _UNSAFE.search(sent)


@pytest.mark.parametrize("url", ["ftp://pub.test/x", "pub.test/x", "http:///x", "://pub.test"])
def test_not_an_http_url_with_a_host(url: str) -> None:
    with pytest.raises(RequestFailed):
        split_url(url)
