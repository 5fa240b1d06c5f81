"""Which outcomes the retry policy tries again, and how long it waits (no I/O here)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dispatcher.failures import (
    ConnectionRefused,
    ConnectionReset,
    DeliveryFailure,
    DestinationRefused,
    DnsFailure,
    HostOverloaded,
    InvalidResponse,
    RequestFailed,
    Timeout,
    TlsFailure,
)
from dispatcher.retry_policy import (
    LONGEST_RETRY_AFTER_MS,
    is_retryable,
    parse_retry_after_ms,
    retry_delay_ms,
)
from postbacks.configs import MAX_RETRY_DELAY_MS, PostbackConfig
from tests.dispatcher.configs import stamped


def policy(initial_ms: int = 1000, max_ms: int = 60_000) -> PostbackConfig:
    return stamped(
        name="p",
        url="https://pub.example/pb",
        retry_max_attempts=10,
        retry_initial_delay_ms=initial_ms,
        retry_max_delay_ms=max_ms,
    )


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504, 599])
def test_408_429_and_5xx_are_retried(code: int) -> None:
    assert is_retryable(code, None)


@pytest.mark.parametrize("code", [200, 204, 299, 301, 302, 307, 400, 401, 403, 404, 410, 422])
def test_success_redirects_and_other_4xx_are_not(code: int) -> None:
    assert not is_retryable(code, None)


@pytest.mark.parametrize(
    "failure",
    [
        Timeout.answering("pub.example", 300),
        Timeout.connecting("pub.example", 300),
        ConnectionRefused("pub.example"),
        ConnectionReset("pub.example"),
        DnsFailure("pub.example"),
        TlsFailure("pub.example", "certificate expired"),
        InvalidResponse("pub.example", "not HTTP"),
    ],
)
def test_no_response_is_retried(failure: DeliveryFailure) -> None:
    assert is_retryable(0, failure)


@pytest.mark.parametrize(
    "failure",
    [
        DestinationRefused("pub.example", "10.0.0.1 (private)"),
        HostOverloaded("pub.example", 64, 1000),
        RequestFailed("pub.example", "bad header"),
    ],
)
def test_a_refused_destination_an_overloaded_host_and_client_errors_are_not(
    failure: DeliveryFailure,
) -> None:
    assert not is_retryable(0, failure)


def test_the_backoff_doubles_with_equal_jitter_up_to_the_cap() -> None:
    config = policy(initial_ms=1000, max_ms=5000)
    rng = random.Random(7)
    for retry, ceiling in [(1, 1000), (2, 2000), (3, 4000), (4, 5000), (9, 5000)]:
        waits = [retry_delay_ms(config, retry, rng=rng) for _ in range(200)]
        # Equal jitter: never below half the exponential step, never above it.
        assert ceiling // 2 <= min(waits)
        assert max(waits) <= ceiling
        assert max(waits) - min(waits) > ceiling // 4  # spread, not one fixed wait


def test_retry_after_in_seconds_is_honoured_within_the_cap_and_capped_beyond() -> None:
    config = policy(initial_ms=100, max_ms=10_000)
    assert retry_delay_ms(config, 1, "3") == 3000
    assert retry_delay_ms(config, 1, " 0 ") == 0
    assert retry_delay_ms(config, 1, "3600") == 10_000


def test_retry_after_as_an_http_date() -> None:
    config = policy(initial_ms=100, max_ms=10_000)
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC).timestamp()
    in_five = format_datetime(datetime(2026, 11, 28, 12, 0, 5, tzinfo=UTC), usegmt=True)
    assert retry_delay_ms(config, 1, in_five, now=now) == 5000
    assert parse_retry_after_ms("Sat, 28 Nov 2026 11:00:00 GMT", now) == 0  # in the past
    assert parse_retry_after_ms("Sat, 28 Nov 2026 13:00:00 GMT", now) == 3_600_000


@pytest.mark.parametrize("value", ["soon", "-5", "-0", "+5", "1.5", "1e3", "", "²", "٣", "1 2"])
def test_a_retry_after_that_is_neither_is_ignored(value: str) -> None:
    config = policy(initial_ms=1000, max_ms=60_000)
    assert parse_retry_after_ms(value) is None
    assert 500 <= retry_delay_ms(config, 1, value) <= 1000


def test_retry_after_digits_are_read_exactly_however_many_leading_zeros() -> None:
    assert parse_retry_after_ms("0" * 5000 + "7") == 7000
    assert parse_retry_after_ms("0" * 5000) == 0
    assert parse_retry_after_ms("999999999") == 999_999_999_000  # the longest read as a number


def test_a_retry_after_of_thousands_of_digits_is_very_long_and_capped() -> None:
    # int() of 5,000 digits raises in Python 3.11 (its int-string limit): never attempted.
    assert parse_retry_after_ms("9" * 5000) == LONGEST_RETRY_AFTER_MS
    assert parse_retry_after_ms("1" + "0" * 9) == LONGEST_RETRY_AFTER_MS
    assert retry_delay_ms(policy(max_ms=10_000), 1, "9" * 5000) == 10_000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Fri, 31 Dec 9999 23:59:59 GMT", 253_402_300_799_000 - 1_700_000_000_000),
        ("Mon, 01 Jan 1900 00:00:00 GMT", 0),  # in the past: retry now
        ("Mon, 01 Jan 0001 00:00:00 GMT", 0),  # read as 2001 (two-digit years): past as well
        ("Mon, 01 Jan 99999 00:00:00 GMT", None),  # past datetime's year 9999
        ("Mon, 01 Jan 2000 25:00:00 GMT", None),
        ("Mon, 01 Jan 2000 00:00:00 +99999999999999999", None),  # OverflowError in the parser
        ("Mon, 01 Jan 2000 00:00:00", None),  # no zone: not an HTTP date
        ("Fri, 31 Dec 9999 23:59:59 GMT" + " " * 100 + "x", None),  # too long to be a date
    ],
)
def test_http_dates_of_any_year_are_read_or_ignored(value: str, expected: int | None) -> None:
    assert parse_retry_after_ms(value, now=1_700_000_000.0) == expected


# Texts a publisher's Retry-After can hold (latin-1 decoded bytes, up to the 64 KiB head) and
# texts meant to break a parser: other scripts' digits, huge numbers, signs, fractions, dates
# out of every range, control characters.
HOSTILE_RETRY_AFTER = [
    "²",
    "٣",
    "\uff11\uff12",  # fullwidth digits
    "9" * 5000,
    "0" * 70_000,
    "-1",
    "1.5",
    " 120 ",
    "\t60\t",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Mon, 01 Jan 0001 00:00:00 GMT",
    "Mon, 01 Jan 99999 00:00:00 GMT",
    "Mon, 01 Jan 2000 00:00:00 -99999999999999999999",
    "Sun, 06 Nov 1994 08:49:37 +2400",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
    "\x00",
    "\xff\xfe",
    "1" * 4301,
    "Mon, 99 Foo 2000 99:99:99 GMT",
    ", , , ,",
    "",
]
RETRY_AFTER_TEXTS = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(max_codepoint=255)),  # what latin-1 decoding can give
    st.from_regex(r"\A[ \t]*[0-9]{0,40}[ \t]*\Z"),
    st.builds(
        "{}, {:02d} {} {} {:02d}:{:02d}:{:02d} {}".format,
        st.sampled_from(["Mon", "Fri", "Xyz", ""]),
        st.integers(-5, 120),
        st.sampled_from(["Jan", "Dec", "Foo"]),
        st.integers(-(10**6), 10**30),
        st.integers(-1, 99),
        st.integers(-1, 99),
        st.integers(-1, 99),
        st.sampled_from(["GMT", "UT", "+0000", "-2359", "+9999", "+99999999999999999", "EST", ""]),
    ),
)


def _check_total(value: str, initial_ms: int, max_ms: int, retry: int) -> None:
    asked = parse_retry_after_ms(value)
    assert asked is None or (isinstance(asked, int) and asked >= 0)
    config = policy(initial_ms=initial_ms, max_ms=max_ms)
    wait = retry_delay_ms(config, retry, value)
    assert isinstance(wait, int)
    assert 0 <= wait <= config.retry_max_delay_ms


@settings(max_examples=500, deadline=None)
@given(
    value=RETRY_AFTER_TEXTS,
    initial_ms=st.integers(100, MAX_RETRY_DELAY_MS),
    spread=st.integers(0, MAX_RETRY_DELAY_MS),
    retry=st.integers(1, 9),
)
@example(value="²", initial_ms=100, spread=0, retry=1)
def test_any_retry_after_gives_a_wait_within_the_cap_and_never_raises(
    value: str, initial_ms: int, spread: int, retry: int
) -> None:
    _check_total(value, initial_ms, min(MAX_RETRY_DELAY_MS, initial_ms + spread), retry)


@pytest.mark.parametrize("value", HOSTILE_RETRY_AFTER)
def test_hostile_retry_after_gives_a_wait_within_the_cap_and_never_raises(value: str) -> None:
    _check_total(value, 100, 10_000, 1)
