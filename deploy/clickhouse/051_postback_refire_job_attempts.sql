-- The attempts each bulk re-fire job asked for: one row per (job, pair), written before the
-- fire request is published. attempt_id is deterministic (uuid5 of the job and the pair), so a
-- resumed job that publishes a pair again asks for the same attempt, which the log stores once;
-- a job's succeeded and failed counts are its attempt_ids looked up in postback_attempts.
CREATE TABLE IF NOT EXISTS postbacks.postback_refire_job_attempts
(
    job_id          UUID                       COMMENT 'postback_refire_jobs.job_id',
    attempt_id      UUID                       COMMENT 'The re-fire attempt (postback_attempts.attempt_id once logged)',
    transaction_id  String                     COMMENT 'The pair re-fired: transaction ...',
    postback_id     UUID                       COMMENT '... and configuration',
    refire_of       UUID                       COMMENT 'The newest selected attempt of the pair, whose input was fired again',
    requested_at    DateTime64(3, 'UTC')       COMMENT 'When the fire request was published'
)
ENGINE = ReplacingMergeTree
ORDER BY (job_id, attempt_id)
COMMENT 'Which re-fire attempts each bulk re-fire job requested';
