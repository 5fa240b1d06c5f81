"""Whether a failed attempt is tried again, and after how long (issue 9 item 5).

Off by default (`retry_max_attempts` = 1), as in the reference product. A configuration that
turns it on gets up to `retry_max_attempts` attempts of each postback an input fires; test
fires and re-fires are one explicit attempt each and are never retried.

Retried: outcomes a moment later may change.
- no HTTP response: timeout, connection refused or reset, DNS or TLS failure, an answer that
  is not HTTP;
- HTTP 408 (Request Timeout), 429 (Too Many Requests) and every 5xx.
Never retried: 2xx (done), other 4xx (the request itself is wrong: sending it again changes
nothing), 3xx (redirects are not followed, design §5), a destination the guard refused (it
will be refused again), a postback failed unsent because its host is overloaded (retrying
would add load to the host that is shedding it), and any other client-side failure.

The wait before retry n (n = 1 for the second attempt) is exponential,
b = min(retry_max_delay_ms, retry_initial_delay_ms * 2**(n-1)), with *equal jitter*: uniform in
[b/2, b]. Not full jitter ([0, b]): a publisher that just failed is rarely back within a few
milliseconds, and full jitter would spend some of a small budget of attempts (at most 10) on
retries that come almost at once. Equal jitter keeps at least half of the exponential spacing
and still spreads the retries of an outage's many postbacks over a window, so they do not reach
the recovering publisher all together.

A `Retry-After` answer header (delay in seconds, or an HTTP date) is the publisher's own word,
so it is used as is when it is within `retry_max_delay_ms`; a longer one is capped at
`retry_max_delay_ms`. One that cannot be parsed is ignored.
"""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime

from dispatcher.delivery import Outcome
from dispatcher.failures import (
    ConnectionRefused,
    ConnectionReset,
    DeliveryFailure,
    DnsFailure,
    InvalidResponse,
    Timeout,
    TlsFailure,
)
from postbacks.attempts import AttemptStatus
from postbacks.configs import PostbackConfig

RETRYABLE_FAILURES = (
    Timeout,
    ConnectionRefused,
    ConnectionReset,
    DnsFailure,
    TlsFailure,
    InvalidResponse,
)


def next_retry_ms(config: PostbackConfig, attempt_number: int, outcome: Outcome) -> int | None:
    """The wait before attempt `attempt_number` + 1, or None when this one is not retried
    (the caller has checked that the policy allows another attempt)."""
    attempt = outcome.attempt
    if attempt.status is AttemptStatus.SUCCESS:
        return None
    if not is_retryable(attempt.response_code, outcome.failure):
        return None
    return retry_delay_ms(config, attempt_number, outcome.retry_after)


def is_retryable(response_code: int, failure: DeliveryFailure | None) -> bool:
    """Whether this outcome may turn out differently if sent again a little later."""
    if response_code == 0:
        return isinstance(failure, RETRYABLE_FAILURES)
    return response_code in (408, 429) or 500 <= response_code <= 599


def retry_delay_ms(
    config: PostbackConfig,
    retry_number: int,
    retry_after: str | None = None,
    *,
    rng: random.Random | None = None,
    now: float | None = None,
) -> int:
    """Milliseconds to wait before retry `retry_number` (1 = the second attempt)."""
    cap = config.retry_max_delay_ms
    asked = parse_retry_after_ms(retry_after, now) if retry_after is not None else None
    if asked is not None:
        return asked if asked <= cap else cap
    backoff = min(cap, config.retry_initial_delay_ms << (retry_number - 1))
    half = backoff / 2
    jitter: float = (rng or random).random()
    return round(half + jitter * half)


def parse_retry_after_ms(value: str, now: float | None = None) -> int | None:
    """RFC 9110 §10.2.3: delay-seconds or an HTTP date; None when it is neither."""
    text = value.strip()
    if text.isdigit():
        return int(text) * 1000
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        return None
    seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0, round(seconds * 1000))
