-- Rollup for dashboards, analysts and GET /api/v1/stats/failure-rate: attempts, failures and
-- latency per minute, publisher, offer, postback, status and response class/code. Filled by
-- 003's materialized view on every insert into postback_attempts. SummingMergeTree adds up
-- rows of one key when parts merge, so always read it with sum() (max() for latency_ms_max):
--   SELECT minute, sum(failures) / sum(attempts) AS failure_rate
--   FROM postbacks.postback_attempts_by_minute GROUP BY minute ORDER BY minute
-- Kept longer than the raw log: the log-writer sets `TTL minute + INTERVAL
-- <POSTBACKS_ROLLUP_RETENTION_DAYS, default 400> DAY` at start (the raw log: 90 days).
CREATE TABLE IF NOT EXISTS postbacks.postback_attempts_by_minute
(
    minute          DateTime('UTC')                    COMMENT 'Start of the minute (UTC) of attempted_at',
    publisher_id    UInt64                             COMMENT 'Publisher whose server was called',
    offer_id        UInt64                             COMMENT 'Offer of the input message',
    postback_id     UUID                               COMMENT 'Configuration that fired',
    postback_name   LowCardinality(String)             COMMENT 'Configuration name at the time it fired',
    postback_type   LowCardinality(String)             COMMENT 'Click, Conversion or Event',
    status          LowCardinality(String)             COMMENT 'Success or Failed',
    response_class  LowCardinality(String)             COMMENT '2xx, 3xx, 4xx, 5xx, or none (no HTTP response: response_code 0)',
    response_code   UInt16                             COMMENT 'HTTP status; 0 = no HTTP response',
    attempts        UInt64                             COMMENT 'Attempts in the minute; sum() it',
    failures        UInt64                             COMMENT 'Failed attempts in the minute; sum() it',
    latency_ms_sum  UInt64                             COMMENT 'Sum of latency_ms; sum(latency_ms_sum) / sum(attempts) is the mean',
    latency_ms_max  SimpleAggregateFunction(max, UInt32) COMMENT 'Slowest attempt of the minute; read it with max()'
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, publisher_id, offer_id, postback_id, postback_name, postback_type, status, response_class, response_code)
SETTINGS ttl_only_drop_parts = 1
COMMENT 'Attempts, failures and latency per minute by publisher, offer, postback and response; sum() the counters; kept POSTBACKS_ROLLUP_RETENTION_DAYS (default 400) days';
