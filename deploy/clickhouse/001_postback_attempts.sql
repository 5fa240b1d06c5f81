-- The attempt log: one row per postback attempt (design §6).
--
-- ORDER BY (attempted_at, attempt_id): the log is read newest first within a time range, and
-- keyset pagination walks exactly this key, so a page is a range scan, never a sort of the
-- whole table. attempt_id breaks ties between attempts in the same millisecond.
-- ReplacingMergeTree on that key makes a re-delivered attempt (same attempt_id and time,
-- written twice after a crash between insert and offset commit) collapse into one row.
CREATE TABLE IF NOT EXISTS postbacks.postback_attempts
(
    attempt_id      UUID                      COMMENT 'Unique per attempt; sent to the publisher so it can drop duplicates',
    attempted_at    DateTime64(3, 'UTC')      COMMENT 'When the request started',
    status          LowCardinality(String)    COMMENT 'Success (2xx) or Failed (anything else)',
    postback_id     UUID                      COMMENT 'Configuration that fired',
    postback_name   String                    COMMENT 'Configuration name at the time it fired',
    postback_type   LowCardinality(String)    COMMENT 'Click, Conversion or Event',
    offer_id        UInt64,
    publisher_id    UInt64,
    event_id        String                    COMMENT 'Empty unless postback_type = Event',
    transaction_id  String                    COMMENT 'The network''s click or conversion ID',
    response_code   UInt16                    COMMENT 'HTTP status; 0 = no HTTP response (see error)',
    url             String                    COMMENT 'The full URL called',
    method          LowCardinality(String)    COMMENT 'GET or POST',
    error           String                    COMMENT 'Plain-words reason for a failure; empty on success',
    server_response String                    COMMENT 'First 4 KiB of the response body, marked when cut',
    latency_ms      UInt32                    COMMENT 'Request start to end of the body read',
    trigger         LowCardinality(String)    COMMENT 'auto, refire or test',
    refire_of       Nullable(UUID)            COMMENT 'The attempt a re-fire repeats',
    source          String                    COMMENT 'The input message as JSON',
    -- The detail view and re-fires look attempts up by id, which is not a prefix of the key.
    INDEX idx_attempt_id attempt_id TYPE bloom_filter GRANULARITY 1,
    INDEX idx_transaction_id transaction_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_publisher_id publisher_id TYPE set(1024) GRANULARITY 4,
    INDEX idx_response_code response_code TYPE set(256) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(attempted_at)
ORDER BY (attempted_at, attempt_id)
COMMENT 'Every postback attempt, written by the log-writer from the postbacks.attempts topic';
