-- The projection in 006 needs this on a ReplacingMergeTree: when a merge drops a duplicate row,
-- the projection's part is rebuilt from the merged rows, so it never counts a removed copy.
ALTER TABLE postbacks.postback_attempts MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
