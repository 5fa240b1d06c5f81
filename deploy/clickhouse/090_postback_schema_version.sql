-- The schema version each `postbacks migrate` recorded after applying this folder's DDL: the
-- services read max(version) at start and refuse to run on a schema older than the release's
-- SCHEMA_VERSION (shared/postbacks/store/schema.py). A row per version, never updated.
CREATE TABLE IF NOT EXISTS postbacks.postback_schema_version
(
    version     UInt32                 COMMENT 'SCHEMA_VERSION of the release whose postbacks migrate applied the DDL',
    applied_at  DateTime64(3, 'UTC')   COMMENT 'When postbacks migrate recorded it'
)
ENGINE = MergeTree
ORDER BY version
COMMENT 'Schema versions recorded by postbacks migrate; the services need max(version) >= their SCHEMA_VERSION';
