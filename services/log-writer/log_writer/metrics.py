"""The log-writer's Prometheus metrics. Dead letters count in postbacks_dead_letters_total."""

from prometheus_client import Counter, Gauge, Histogram

ROWS_WRITTEN = Counter("postbacks_log_writer_rows_total", "Attempt rows inserted into ClickHouse")
INSERT_FAILURES = Counter(
    "postbacks_log_writer_insert_failures_total",
    "Attempts to store a batch that failed and will be retried (ClickHouse refused or is down)",
)
REPLAYS_SKIPPED = Counter(
    "postbacks_log_writer_replays_skipped_total",
    "Attempt records not inserted because their attempt_id is already stored (a replay)",
)
BATCH_ROWS = Histogram(
    "postbacks_log_writer_batch_rows",
    "Records per batch read from postbacks.attempts",
    buckets=(1, 10, 100, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000),
)
INSERT_SECONDS = Histogram(
    "postbacks_log_writer_insert_seconds",
    "Seconds to store one batch (replay check and INSERT), successful attempts only",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONSUMER_LAG = Gauge(
    "postbacks_log_writer_consumer_lag",
    "Records on the partition not yet stored and committed (high watermark - committed offset)",
    ["topic", "partition"],
)
