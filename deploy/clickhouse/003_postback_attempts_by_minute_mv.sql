-- Fills 002's rollup from every block inserted into the attempt log. It sees each attempt once
-- because the log-writer inserts each attempt once (deploy/clickhouse/README.md, "Exactly once").
-- log_writer/rollup_repair.py repeats these expressions: change both together.
CREATE MATERIALIZED VIEW IF NOT EXISTS postbacks.postback_attempts_by_minute_mv
TO postbacks.postback_attempts_by_minute
AS SELECT
    toStartOfMinute(attempted_at) AS minute,
    publisher_id,
    offer_id,
    postback_id,
    postback_name,
    postback_type,
    status,
    multiIf(response_code = 0, 'none', response_code < 200, '1xx', response_code < 300, '2xx',
            response_code < 400, '3xx', response_code < 500, '4xx', '5xx') AS response_class,
    response_code,
    count() AS attempts,
    countIf(status = 'Failed') AS failures,
    sum(latency_ms) AS latency_ms_sum,
    max(latency_ms) AS latency_ms_max
FROM postbacks.postback_attempts
GROUP BY minute, publisher_id, offer_id, postback_id, postback_name, postback_type, status,
         response_class, response_code
COMMENT 'Rolls every insert into postback_attempts up into postback_attempts_by_minute';
