-- The attempt log: one row per postback attempt (design §6). deploy/clickhouse/README.md says
-- why each choice below is what it is, and shows the EXPLAIN output behind it.
--
-- ORDER BY (attempted_at, attempt_id): the log is read newest first within a time range, and
-- keyset pagination walks exactly this key, so a page is a range scan, never a sort of the
-- whole table. attempt_id breaks ties between attempts in the same millisecond.
-- Exactly once: the log-writer drops from each batch the attempt_ids already stored, so a
-- replayed attempt is inserted once and plain SELECTs (and the rollup's materialized view) see
-- it once. ReplacingMergeTree on the same key is the backstop for the one case that check
-- cannot see (two writers of one partition during a consumer-group rebalance).
-- PARTITION BY day: retention drops whole days (ttl_only_drop_parts), and a time filter prunes
-- whole partitions before any index is read.
-- Retention: the log-writer sets `TTL attempted_at + INTERVAL <POSTBACKS_LOG_RETENTION_DAYS,
-- default 90> DAY` at start (ALTER TABLE ... MODIFY TTL), so it is a setting, not an edit here.
CREATE TABLE IF NOT EXISTS postbacks.postback_attempts
(
    -- The columns: generated from postbacks.attempts.AttemptRecord (make generated).
    attempt_id      UUID                                     COMMENT 'Unique per attempt; sent to the publisher in the X-Postback-Attempt-Id header',
    attempted_at    DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)) COMMENT 'When the request started (UTC, milliseconds)',
    status          LowCardinality(String)                   COMMENT 'Success (a 2xx answer) or Failed (anything else)',
    postback_id     UUID                                     COMMENT 'Configuration that fired (postback_configs.id)',
    postback_name   LowCardinality(String)                   COMMENT 'Configuration name at the time it fired',
    postback_type   LowCardinality(String)                   COMMENT 'Click, Conversion or Event: the input topic that fired it',
    offer_id        UInt64 CODEC(T64, ZSTD(1))               COMMENT 'Offer of the input message',
    publisher_id    UInt64 CODEC(T64, ZSTD(1))               COMMENT 'Publisher of the input message, the one whose server was called',
    event_id        String CODEC(ZSTD(1))                    COMMENT 'Event ID of an Event input; empty for clicks and conversions',
    transaction_id  String CODEC(ZSTD(1))                    COMMENT 'The network''s click or conversion ID from the input message',
    response_code   UInt16 CODEC(T64, ZSTD(1))               COMMENT 'HTTP status; 0 = no HTTP response (timeout, refused, DNS, TLS, guard: see error)',
    url             String CODEC(ZSTD(1))                    COMMENT 'The full URL called, macros filled',
    method          LowCardinality(String) DEFAULT 'GET'     COMMENT 'GET or POST',
    error           String CODEC(ZSTD(1))                    COMMENT 'Plain-words reason for a failure; empty on success',
    server_response String CODEC(ZSTD(3))                    COMMENT 'First 4 KiB of the response body, marked …[truncated] when cut',
    latency_ms      UInt32 CODEC(T64, ZSTD(1))               COMMENT 'Milliseconds from request start to the end of the body read',
    trigger         LowCardinality(String) DEFAULT 'auto'    COMMENT 'auto (an input fired it), refire (an explicit re-send) or test (a test fire)',
    refire_of       Nullable(UUID)                           COMMENT 'For a refire: the attempt it repeats; NULL otherwise',
    attempt_number  UInt8 DEFAULT 1                          COMMENT '1 for the first attempt of a postback; 2, 3, ... for the retries of its configuration''s retry policy',
    source          String CODEC(ZSTD(3))                    COMMENT 'The input message as JSON, so a re-fire can render the postback again',
    -- End of the generated columns.
    -- Equality lookups on columns that are not a prefix of the key: one attempt (detail view,
    -- re-fires, the log-writer's replay check), one transaction, one publisher or offer.
    INDEX idx_attempt_id attempt_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_transaction_id transaction_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_publisher_id publisher_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_offer_id offer_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_response_code response_code TYPE set(64) GRANULARITY 1,
    -- Substring search ("contains", case-insensitive) on error and server response: inverted
    -- text indexes over the lower-cased text, split into words and numbers, used by
    -- `lowerUTF8(col) LIKE '%<lower-cased value>%'`. Not on url: there, measured, the index's
    -- dictionary of hex ids was half the table's size and made a search slower than a scan
    -- (deploy/clickhouse/README.md).
    INDEX idx_error_text lowerUTF8(error) TYPE text(tokenizer = splitByNonAlpha) GRANULARITY 1,
    INDEX idx_server_response_text lowerUTF8(server_response) TYPE text(tokenizer = splitByNonAlpha) GRANULARITY 1,
    -- The log sorted by publisher: the few small columns people count and filter by, ordered by
    -- (publisher_id, attempted_at). A count for one publisher (GET /api/v1/logs/count, the logs
    -- page's "N matching", Grafana drill-downs) reads only that publisher's rows from here
    -- instead of every granule of the time range, where a publisher of any size appears: on 10
    -- million rows, 12 ms instead of 290 ms (bench/README.md). ClickHouse picks it by itself for
    -- a query whose columns it holds and for which it reads fewer marks. It costs about a
    -- quarter more insert work and a few bytes a row.
    PROJECTION by_publisher
    (
        SELECT attempted_at, publisher_id, offer_id, status, response_code, postback_type
        ORDER BY publisher_id, attempted_at
    )
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(attempted_at)
ORDER BY (attempted_at, attempt_id)
-- deduplicate_merge_projection_mode: when a merge drops a replayed copy, the projection's part is
-- rebuilt from the merged rows, so the projection never counts a removed copy.
SETTINGS ttl_only_drop_parts = 1, deduplicate_merge_projection_mode = 'rebuild'
COMMENT 'Every postback attempt, written by the log-writer from the postbacks.attempts topic; kept POSTBACKS_LOG_RETENTION_DAYS (default 90) days';
