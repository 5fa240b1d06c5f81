"""Which outcomes the retry policy tries again, and how long it waits (no I/O here)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

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
from dispatcher.retry_policy import is_retryable, parse_retry_after_ms, retry_delay_ms
from postbacks.configs import PostbackConfig
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


@pytest.mark.parametrize("value", ["soon", "-5", "1.5", ""])
def test_a_retry_after_that_is_neither_is_ignored(value: str) -> None:
    config = policy(initial_ms=1000, max_ms=60_000)
    assert parse_retry_after_ms(value) is None
    assert 500 <= retry_delay_ms(config, 1, value) <= 1000
