-- The executions of a workflow that are still queued or running: what the router looks at when
-- a schedule tick has an `overlap` policy. Partial, so it stays small however long the history.
CREATE INDEX executions_workflow_active ON executions (workflow, status)
    WHERE status IN ('queued', 'running');
