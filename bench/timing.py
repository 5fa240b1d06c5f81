"""Latency samples, percentiles and closed-loop throughput, for any scenario.

A measured call is a coroutine function that returns normally when the operation succeeded
and raises `Rejected` when the system under test answered but said no (a 4xx/5xx, a guardrail
refusing the query): a benchmark reports such answers, it does not crash on them.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

Call = Callable[[], Awaitable[object]]


class Rejected(Exception):
    """The system under test answered with a refusal; the message says which (e.g. 'HTTP 429')."""


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Latency:
    """Milliseconds of `samples` successful calls; `error` is the first refusal, if any."""

    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    error: str | None = None

    @classmethod
    def of(cls, millis: Sequence[float], error: str | None = None) -> Latency:
        return cls(
            samples=len(millis),
            p50_ms=percentile(millis, 50),
            p99_ms=percentile(millis, 99),
            max_ms=max(millis, default=math.nan),
            error=error,
        )


async def _timed(call: Call) -> float:
    start = time.perf_counter()
    await call()
    return (time.perf_counter() - start) * 1000


async def measure(call: Call, warmup: int, n: int) -> Latency:
    """Latency of `call` over `n` calls after `warmup` untimed ones; a refusal stops it."""
    millis: list[float] = []
    for i in range(warmup + n):
        try:
            sample = await _timed(call)
        except Rejected as exc:
            return Latency.of(millis, str(exc))
        if i >= warmup:
            millis.append(sample)
    return Latency.of(millis)


async def measure_pair(
    first: Call,
    second: Call,
    warmup: int,
    n: int,
    budget_s: float = math.inf,
    min_samples: int = 20,
) -> tuple[Latency, Latency]:
    """Latency of two ways of doing one thing, called alternately so both see the same state.

    Alternating (rather than all of `first`, then all of `second`) keeps caches, background
    merges and CPU frequency from favouring whichever ran second. A refusal stops that side.
    `budget_s` bounds a slow query's time: warm-up ends after a quarter of it (one round at
    least), and timing after all of it once `min_samples` rounds are in, so a query that takes
    seconds gets fewer samples instead of holding the run for an hour (Latency.samples says).
    """
    samples: tuple[list[float], list[float]] = ([], [])
    errors: list[str | None] = [None, None]
    start = time.perf_counter()
    warm = 0
    while warm < warmup and (warm == 0 or time.perf_counter() - start < budget_s / 4):
        await _round((first, second), errors, None)
        warm += 1
    start = time.perf_counter()
    for rounds in range(n):
        if None not in errors:
            break  # both sides refused
        if rounds >= min_samples and time.perf_counter() - start > budget_s:
            break
        await _round((first, second), errors, samples)
    return Latency.of(samples[0], errors[0]), Latency.of(samples[1], errors[1])


async def _round(
    calls: tuple[Call, Call],
    errors: list[str | None],
    samples: tuple[list[float], list[float]] | None,
) -> None:
    """One call of each side that has not been refused yet; samples kept unless warming up."""
    for side, call in enumerate(calls):
        if errors[side] is not None:
            continue
        try:
            millis = await _timed(call)
        except Rejected as exc:
            errors[side] = str(exc)
            continue
        if samples is not None:
            samples[side].append(millis)


@dataclass(frozen=True)
class Throughput:
    concurrency: int
    seconds: float
    ok: int
    rejected: dict[str, int]
    per_second: float
    latency: Latency


async def closed_loop(call: Call, concurrency: int, seconds: float) -> Throughput:
    """`concurrency` workers each calling `call` back to back for `seconds`; successes per s."""
    millis: list[float] = []
    rejected: Counter[str] = Counter()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            try:
                millis.append(await _timed(call))
            except Rejected as exc:
                rejected[str(exc)] += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return Throughput(
        concurrency=concurrency,
        seconds=elapsed,
        ok=len(millis),
        rejected=dict(rejected),
        per_second=len(millis) / elapsed,
        latency=Latency.of(millis),
    )
