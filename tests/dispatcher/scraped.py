"""Metric values as a Prometheus scrape sees them (gauges backed by a function included)."""

from __future__ import annotations

from prometheus_client import REGISTRY


def gauge(name: str) -> float:
    value = REGISTRY.get_sample_value(name)
    assert value is not None, f"{name} is not exported"
    return value
