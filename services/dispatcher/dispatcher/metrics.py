"""Prometheus metrics of the dispatcher."""

from prometheus_client import Counter, Histogram

INPUTS = Counter("postbacks_dispatcher_inputs_total", "Input messages consumed", ["topic"])
ATTEMPTS = Counter(
    "postbacks_attempts_total",
    "Postback attempts by outcome",
    ["status", "postback_type", "trigger"],
)
DELIVERY_SECONDS = Histogram(
    "postbacks_delivery_seconds",
    "Time from request start to end of the (capped) body read",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
