"""The checks every part of a postback URL passes before it is saved or fired.

The same function runs when a configuration is saved (a 422 naming `url`) and when the
dispatcher loads one from the configurations topic (pydantic runs it on every decode), so a
record written before a check existed, or by another tool, is skipped there instead of failing
later at every input it matches. The host is checked with the IDNA codec the dispatcher's
HTTP client encodes it with, so what passes here can be sent.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit

from postbacks.macros import describe_unknown, unknown_macros

URL_TEMPLATE_LIMIT = 4096  # characters of a template (PostbackConfigIn.url checks it)
HOST_LIMIT = 253  # DNS: a name of at most 253 characters, labels of at most 63
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


def check_url_template(value: str) -> None:
    """Raise ValueError saying what is wrong with a postback URL template, in words."""
    unknown = unknown_macros(value)
    if unknown:
        raise ValueError(describe_unknown(unknown))
    if _URL_UNSAFE.search(value):
        raise ValueError("url must not contain spaces, tabs, line breaks or control characters")
    try:
        parts = urlsplit(value)
    except ValueError as exc:  # e.g. an unclosed "[" of an IPv6 address
        raise ValueError(f"url cannot be parsed: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("url must start with http:// or https://")
    if "{" in parts.netloc:
        raise ValueError("macros may stand in the path and the query, not in the host or port")
    if not parts.hostname:
        raise ValueError("url must name a host, e.g. https://publisher.example/postback")
    _check_port(parts)
    _check_host(parts.hostname)


def _check_port(parts: SplitResult) -> None:
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:  # urlsplit gives 0 for ":0", and None when no port is written
        raise ValueError("the port must be a number from 1 to 65535")


def _check_host(host: str) -> None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return  # an address: urlsplit has checked the brackets of an IPv6 one
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"{host!r} is not a valid host name ({exc})") from None
    name = ascii_host.removesuffix(".")
    if len(name) > HOST_LIMIT:
        raise ValueError(f"the host name is longer than {HOST_LIMIT} characters")
    for label in name.split("."):
        if not _LABEL.fullmatch(label.lower()):
            raise ValueError(
                f"{host!r} is not a valid host name (each part between dots must be 1 to "
                "63 letters, digits, '-' or '_', not starting or ending with '-')"
            )
