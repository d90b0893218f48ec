-- A workflow's `concurrency` or `debounce` group of a run (its `key`, rendered with the event;
-- '' when the workflow gives none). NULL: the workflow has neither.
ALTER TABLE executions ADD COLUMN group_key text;
-- The queued and running runs of a group: what every gate decision reads.
CREATE INDEX executions_group_active ON executions (workflow, group_key, created_at, id)
    WHERE status IN ('queued', 'running') AND group_key IS NOT NULL;
