-- Postback configurations, owned by the query-api. Every save writes a new row with a higher
-- version; a delete writes a row with is_deleted = 1. Read with FINAL to see the current set.
CREATE TABLE IF NOT EXISTS postbacks.postback_configs
(
    id            UUID,
    name          String,
    type          LowCardinality(String)  COMMENT 'Click, Conversion or Event',
    offer_id      Nullable(UInt64)        COMMENT 'NULL = any offer',
    publisher_id  Nullable(UInt64)        COMMENT 'NULL = any publisher',
    event_id      Nullable(String)        COMMENT 'Event only; NULL = any event',
    statuses      Array(LowCardinality(String)) COMMENT 'Conversion statuses that fire it',
    method        LowCardinality(String),
    url           String                  COMMENT 'URL template with {macros}',
    body          Nullable(String)        COMMENT 'POST body template; NULL = no body',
    content_type  LowCardinality(String)  COMMENT 'json or form: how body macros are encoded',
    headers       Map(String, String)     COMMENT 'Header name -> value template',
    timeout_ms    UInt32                  COMMENT 'Total: connect, headers and body',
    connect_timeout_ms UInt32 DEFAULT 3000 COMMENT 'TCP and TLS connection alone',
    retry_max_attempts UInt8 DEFAULT 1    COMMENT 'Attempts at most per postback; 1 = no retry',
    retry_initial_delay_ms UInt32 DEFAULT 1000 COMMENT 'Wait before the first retry; doubles per retry, with jitter',
    retry_max_delay_ms UInt32 DEFAULT 60000 COMMENT 'Cap of one wait between attempts (and of a Retry-After)',
    delay_ms      UInt32 DEFAULT 0        COMMENT 'Wait before the first attempt',
    enabled       Bool,
    created_at    DateTime64(3, 'UTC'),
    updated_at    DateTime64(3, 'UTC'),
    version       UInt64,
    is_deleted    UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY id
COMMENT 'Postback configurations; SELECT ... FINAL for the current set';
