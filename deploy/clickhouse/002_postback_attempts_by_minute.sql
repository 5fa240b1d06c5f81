-- Failure-rate rollup for Grafana, analysts and GET /api/v1/stats/failure-rate: attempts per
-- minute, publisher, offer, postback, status and response code. A SummingMergeTree keeps it small; read it with sum(), e.g.
--   SELECT minute, sumIf(attempts, status = 'Failed') / sum(attempts) AS failure_rate
--   FROM postbacks.postback_attempts_by_minute GROUP BY minute ORDER BY minute
CREATE TABLE IF NOT EXISTS postbacks.postback_attempts_by_minute
(
    minute          DateTime('UTC'),
    publisher_id    UInt64,
    offer_id        UInt64,
    postback_id     UUID,
    postback_name   String,
    status          LowCardinality(String),
    response_code   UInt16,
    attempts        UInt64,
    latency_ms_sum  UInt64
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, publisher_id, offer_id, postback_id, postback_name, status, response_code)
COMMENT 'Attempts per minute by publisher, offer, postback, status and code; sum() the counters';
