-- Least-privilege roles for a ClickHouse server with SQL-driven access control (docs/production.md,
-- "Existing Kafka and ClickHouse clusters"). Run once as an administrator, e.g.
--   clickhouse-client --multiquery < deploy/clickhouse/access/grants.sql
-- then create one user per service and grant it its role (the end of this file). Outside the
-- schema folder's *.sql on purpose: `postbacks migrate` applies those, and this needs an admin.
-- deploy/clickhouse/access/users.xml gives the Compose stack the same privileges, and
-- tests/deploy/test_grants.py holds both to the tables each service's code names.
-- On a cluster, add ON CLUSTER '{cluster}' after each role name and to each GRANT.

-- `postbacks migrate` (an operator or a one-shot container, once per release): creates the
-- database, its tables and view, adds columns, sets both tables' TTL from
-- POSTBACKS_LOG_RETENTION_DAYS and POSTBACKS_ROLLUP_RETENTION_DAYS (log_writer/retention.py),
-- records the schema version. It may drop only its
-- scratch tables (columns_of_*: store/missing_columns.py). Keep this account: the materialized
-- view runs as the user that created it (SQL SECURITY DEFINER), inserting into the rollup.
CREATE ROLE IF NOT EXISTS postbacks_migrate;
GRANT CREATE DATABASE, CREATE TABLE, CREATE VIEW, ALTER ADD COLUMN, SELECT, INSERT ON postbacks.* TO postbacks_migrate;
GRANT ALTER TTL, ALTER MATERIALIZE TTL ON postbacks.* TO postbacks_migrate;
GRANT DROP TABLE ON postbacks.columns_of_* TO postbacks_migrate;

-- The log-writer: inserts attempts (the view fills the rollup) after looking up replayed ones,
-- and repairs the rollup after a crash (log_writer/rollup_repair.py).
CREATE ROLE IF NOT EXISTS postbacks_log_writer;
GRANT SELECT, INSERT ON postbacks.postback_attempts TO postbacks_log_writer;
GRANT SELECT, INSERT ON postbacks.postback_attempts_by_minute TO postbacks_log_writer;
GRANT SELECT ON postbacks.postback_schema_version TO postbacks_log_writer;

-- The query-api: reads the log and the rollup; owns the configurations and the re-fire jobs.
CREATE ROLE IF NOT EXISTS postbacks_query_api;
GRANT SELECT ON postbacks.postback_attempts TO postbacks_query_api;
GRANT SELECT ON postbacks.postback_attempts_by_minute TO postbacks_query_api;
GRANT SELECT, INSERT ON postbacks.postback_configs TO postbacks_query_api;
GRANT SELECT, INSERT ON postbacks.postback_refire_jobs TO postbacks_query_api;
GRANT SELECT, INSERT ON postbacks.postback_refire_job_attempts TO postbacks_query_api;
GRANT SELECT ON postbacks.postback_schema_version TO postbacks_query_api;

-- Then the users, with passwords of your own (or IDENTIFIED WITH ssl_certificate CN '...', for a
-- client certificate without a password: POSTBACKS_CLICKHOUSE_CERT_FILE), each given its role:
--   CREATE USER postbacks_migrator IDENTIFIED WITH sha256_password BY '...';
--   GRANT postbacks_migrate TO postbacks_migrator;
--   CREATE USER postbacks_writer IDENTIFIED WITH sha256_password BY '...';
--   GRANT postbacks_log_writer TO postbacks_writer;
--   CREATE USER postbacks_api IDENTIFIED WITH sha256_password BY '...';
--   GRANT postbacks_query_api TO postbacks_api;
