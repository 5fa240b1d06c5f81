-- Bulk re-fire jobs (POST /api/v1/refires), owned by the query-api. Every change of a job (its
-- state, its progress) writes a new row with a higher version; read with FINAL for the current
-- row. The job keeps its selection (the log filters and the time bounds frozen when it was
-- created), so a query-api that restarts resumes it from its position with the same selection.
-- How many pairs were fired, and how they went, is read from postback_refire_job_attempts and
-- the attempt log, not kept here.
CREATE TABLE IF NOT EXISTS postbacks.postback_refire_jobs
(
    job_id          UUID                       COMMENT 'The job; GET /api/v1/refires/{job_id}',
    version         UInt64                     COMMENT 'Higher wins (ReplacingMergeTree): one per saved change',
    state           LowCardinality(String)     COMMENT 'queued, running, done or failed',
    filters         String                     COMMENT 'The log filters as a JSON list of [parameter, value] pairs (GET /api/v1/logs syntax)',
    from_ms         Int64                      COMMENT 'Selection window start, Unix ms (inclusive), frozen at creation',
    to_ms           Int64                      COMMENT 'Selection window end, Unix ms (exclusive), frozen at creation',
    selected        UInt64                     COMMENT '(transaction_id, postback_id) pairs selected when the job was created',
    skipped         UInt64                     COMMENT 'Pairs not fired: configuration deleted or disabled, or input no longer valid for it',
    position_transaction_id String             COMMENT 'Progress: the last pair handled, in (transaction_id, postback_id) order',
    position_postback_id    Nullable(UUID)     COMMENT 'Progress: NULL before the first pair',
    error           String                     COMMENT 'Why a failed job stopped; empty otherwise',
    created_at      DateTime64(3, 'UTC')       COMMENT 'When the job was created',
    updated_at      DateTime64(3, 'UTC')       COMMENT 'When this row was written'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY job_id
COMMENT 'Bulk re-fire jobs of the query-api; SELECT ... FINAL for the current state of each';
