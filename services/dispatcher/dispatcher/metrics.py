"""Prometheus metrics of the dispatcher (issue 4 item 8).

Dead-lettered inputs are counted by the shared `postbacks_dead_letters_total{service,topic}`.

The two metrics updated once per postback, the attempts counter and the latency histogram, are
counted in plain ints by the event loop and turned into metric families when scraped (custom
collectors, prometheus_client's documented way). The library's Counter.inc and
Histogram.observe each take a lock, and observe walks the buckets in Python: together 4 % of
the loop's samples under load. The scrape runs on the same loop (ops_server.py), so nothing
reads the counts while they change.
"""

import bisect
import collections
import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from typing import cast

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

# How the library writes a bucket's `le` (1 -> "1.0", inf -> "+Inf"); it is not annotated.
_le = cast(Callable[[float], str], floatToGoString)

INPUTS = Counter("postbacks_dispatcher_inputs_total", "Input messages consumed", ["topic"])
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


class AttemptCounter(Collector):
    """`postbacks_attempts_total{status, postback_type, trigger, response_class}`."""

    NAME = "postbacks_attempts"
    LABELS = ("status", "postback_type", "trigger", "response_class")

    def __init__(self) -> None:
        # By status, type, trigger and the code itself (its class is found when scraped):
        # bounded, as codes are 0..999 and the rest are enums.
        self._counts: dict[tuple[str, str, str, int], int] = {}

    def count(self, status: str, postback_type: str, trigger: str, code: int) -> None:
        key = (status, postback_type, trigger, code)
        self._counts[key] = self._counts.get(key, 0) + 1

    def collect(self) -> Iterator[Metric]:
        by_class: collections.Counter[tuple[str, str, str, str]] = collections.Counter()
        for (status, postback_type, trigger, code), n in self._counts.items():
            by_class[str(status), str(postback_type), str(trigger), response_class(code)] += n
        family = CounterMetricFamily(
            self.NAME,
            "Postback attempts by outcome; response_class is 2xx..5xx, or none for no HTTP "
            "response",
            labels=self.LABELS,
        )
        for labels, n in sorted(by_class.items()):
            family.add_metric(labels, n)
        yield family


class LatencyHistogram(Collector):
    """`postbacks_delivery_seconds`: a histogram with fixed bucket bounds (`le`, cumulative)."""

    NAME = "postbacks_delivery_seconds"

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)  # the last one is +Inf's own
        self._sum = 0.0

    def observe(self, seconds: float) -> None:
        # The first bound at or above the value: `le` means less than or equal.
        self._counts[bisect.bisect_left(self._bounds, seconds)] += 1
        self._sum += seconds

    def collect(self) -> Iterator[Metric]:
        bounds = [_le(b) for b in (*self._bounds, math.inf)]
        yield HistogramMetricFamily(
            self.NAME,
            "Time from request start to end of the (capped) body read",
            buckets=list(zip(bounds, itertools.accumulate(self._counts), strict=True)),
            sum_value=self._sum,
        )


ATTEMPTS = AttemptCounter()
DELIVERY_SECONDS = LatencyHistogram((0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
REGISTRY.register(ATTEMPTS)
REGISTRY.register(DELIVERY_SECONDS)
count_attempt = ATTEMPTS.count
