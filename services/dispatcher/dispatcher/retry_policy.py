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
`retry_max_delay_ms`. One that cannot be parsed (a sign or a fraction included) is ignored.
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


# delay-seconds past this many significant digits is over 31 years: far past any cap, and
# not worth an int() of thousands of digits (which Python refuses past 4,300 of them).
_SIGNIFICANT_DIGITS = 9
LONGEST_RETRY_AFTER_MS = 999_999_999 * 1000  # the most seconds in _SIGNIFICANT_DIGITS digits
# An HTTP date is 29 characters (IMF-fixdate), the obsolete RFC 850 and asctime forms at most
# 35: a longer value is no date, and is not handed to the date parser.
_DATE_LENGTH_LIMIT = 64


def parse_retry_after_ms(value: str, now: float | None = None) -> int | None:
    """RFC 9110 §10.2.3: delay-seconds or an HTTP date; None when it is neither. Total: the
    value is the publisher's text (up to the 64 KiB head limit, decoded as latin-1), and no
    text makes this raise; what it returns is never negative."""
    text = value.strip(" \t")  # the header's optional whitespace, and only that
    # ASCII digits only: str.isdigit() alone accepts '²' (which int() refuses) and other
    # scripts' digits. A sign or a decimal point ('-1', '1.5') is outside the grammar
    # (delay-seconds = 1*DIGIT): such a value is ignored, and the policy's own backoff used.
    if text.isascii() and text.isdigit():
        significant = text.lstrip("0")
        if len(significant) > _SIGNIFICANT_DIGITS:
            return LONGEST_RETRY_AFTER_MS  # the caller caps it at retry_max_delay_ms
        return int(significant or "0") * 1000
    if len(text) > _DATE_LENGTH_LIMIT:
        return None
    try:
        when = parsedate_to_datetime(text)
        if when.tzinfo is None:  # an HTTP date is always GMT; timestamp() would use local time
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    except Exception:
        # The standard library's date parser is not total on hostile text (ValueError for a
        # year or an hour out of range, OverflowError for a huge zone offset, IndexError in
        # past releases): whatever it raises, the value is not a date we can use.
        return None
    return max(0, round(seconds * 1000))  # a date in the past: retry now
