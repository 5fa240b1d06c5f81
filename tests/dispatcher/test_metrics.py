"""The dispatcher's per-postback metrics (metrics.py) are counted in plain ints and exported by
custom collectors: a scrape must see exactly what prometheus_client's own Counter and Histogram
would export for the same events."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram

from dispatcher.metrics import AttemptCounter, LatencyHistogram, response_class
from postbacks.attempts import AttemptStatus, PostbackType, Trigger

BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Values on the bounds themselves (`le` is inclusive), between them, and past the last.
SECONDS = st.sampled_from([0.0, *BOUNDS, 31.0]) | st.floats(0, 100, allow_nan=False)
EVENTS = st.tuples(
    st.sampled_from(AttemptStatus),
    st.sampled_from(PostbackType),
    st.sampled_from(Trigger),
    st.sampled_from([0, 200, 204, 302, 404, 500, 503, 999]),
)

Sample = tuple[str, tuple[tuple[str, str], ...], float]


def samples(registry: CollectorRegistry) -> set[Sample]:
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")  # the library's creation time: not ours to match
    }


@given(st.lists(SECONDS, max_size=60))
def test_the_latency_histogram_exports_what_the_librarys_would(values: list[float]) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    library = Histogram(LatencyHistogram.NAME, "doc", buckets=BOUNDS, registry=theirs)
    histogram = LatencyHistogram(BOUNDS)
    ours.register(histogram)
    for value in values:
        library.observe(value)
        histogram.observe(value)
    assert samples(ours) == samples(theirs)
    assert any(name.endswith("_bucket") for name, _, _ in samples(ours))


@given(st.lists(EVENTS, max_size=60))
def test_the_attempt_counter_exports_what_the_librarys_would(
    events: list[tuple[AttemptStatus, PostbackType, Trigger, int]],
) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    library = Counter("postbacks_attempts_total", "doc", AttemptCounter.LABELS, registry=theirs)
    counter = AttemptCounter()
    ours.register(counter)
    for status, postback_type, trigger, code in events:
        library.labels(status, postback_type, trigger, response_class(code)).inc()
        counter.count(status, postback_type, trigger, code)
    assert samples(ours) == samples(theirs)
    assert sum(v for name, _, v in samples(ours) if name == "postbacks_attempts_total") == len(
        events
    )
