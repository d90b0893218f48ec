-- `call` steps: a child execution names the parent's attempt it answers (`parent`: the task's
-- execution_id, step_id, instance, attempt and attempt_id) and how deep it nests (a root is 0).
ALTER TABLE executions
    ADD COLUMN parent jsonb,
    ADD COLUMN depth  integer NOT NULL DEFAULT 0;
-- A cancelled or timed-out call finds its child by the parent's attempt.
CREATE INDEX executions_parent_attempt ON executions (((parent ->> 'attempt_id')::uuid))
    WHERE parent IS NOT NULL;
