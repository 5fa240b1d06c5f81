"""Prometheus metrics of the dispatcher (issue 4 item 8).

Dead-lettered inputs are counted by the shared `postbacks_dead_letters_total{service,topic}`.
"""

import collections
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

INPUTS = Counter("postbacks_dispatcher_inputs_total", "Input messages consumed", ["topic"])
ATTEMPTS = Counter(
    "postbacks_attempts_total",
    "Postback attempts by outcome; response_class is 2xx..5xx, or none for no HTTP response",
    ["status", "postback_type", "trigger", "response_class"],
)
DELIVERY_SECONDS = Histogram(
    "postbacks_delivery_seconds",
    "Time from request start to end of the (capped) body read",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# IN_FLIGHT, WAITING and TIMED_WAITS read the engine's own counts when scraped
# (Gauge.set_function, engine.py): setting them twice per postback cost more than a scrape.
IN_FLIGHT = Gauge("postbacks_dispatcher_in_flight", "Postback requests being sent right now")
WAITING = Gauge(
    "postbacks_dispatcher_waiting",
    "Postbacks waiting for a slot of their publisher's host (bounded per host)",
)
SHED = Counter(
    "postbacks_dispatcher_host_overloaded_total",
    "Postbacks failed unsent because their host's slots and waiting line were full",
)
RETRIES = Counter(
    "postbacks_dispatcher_retries_total",
    "Failed attempts scheduled to be tried again by their configuration's retry policy",
)
TIMED_WAITS = Gauge(
    "postbacks_dispatcher_timed_waits",
    "Postbacks waiting for a configured delay or a retry's backoff (no HTTP slot held)",
)
CONSUMER_LAG = Gauge(
    "postbacks_dispatcher_consumer_lag",
    "Messages on an input partition not yet read by this dispatcher",
    ["topic", "partition"],
)
PAUSED = Gauge(
    "postbacks_dispatcher_paused",
    "1 while consumption is paused because the bound of admitted postbacks is reached",
)


def response_class(code: int) -> str:
    return f"{code // 100}xx" if 100 <= code < 600 else "none"


_input_children: dict[str, Counter] = {}


def count_inputs(topics: Iterable[str]) -> None:
    """INPUTS.labels(topic).inc(n) once per topic of a fetched batch: per record, the counter's
    lock and call were a visible share of reading an input."""
    for topic, count in collections.Counter(topics).items():
        child = _input_children.get(topic)
        if child is None:
            child = _input_children[topic] = INPUTS.labels(topic)
        child.inc(count)


_attempt_children: dict[tuple[str, str, str, int], Counter] = {}


def count_attempt(status: str, postback_type: str, trigger: str, code: int) -> None:
    """ATTEMPTS.labels(...).inc(), with the labelled child kept: labels() costs more than inc()
    and the hot path sees few distinct combinations (bounded: codes are 0..999)."""
    key = (status, postback_type, trigger, code)
    child = _attempt_children.get(key)
    if child is None:
        child = _attempt_children[key] = ATTEMPTS.labels(
            status, postback_type, trigger, response_class(code)
        )
    child.inc()
