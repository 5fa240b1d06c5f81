CREATE MATERIALIZED VIEW IF NOT EXISTS postbacks.postback_attempts_by_minute_mv
TO postbacks.postback_attempts_by_minute
AS SELECT
    toStartOfMinute(attempted_at) AS minute,
    publisher_id,
    offer_id,
    postback_id,
    postback_name,
    status,
    response_code,
    count() AS attempts,
    sum(latency_ms) AS latency_ms_sum
FROM postbacks.postback_attempts
GROUP BY minute, publisher_id, offer_id, postback_id, postback_name, status, response_code;
