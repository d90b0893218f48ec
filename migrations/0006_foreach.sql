-- `foreach` steps: one row per item (an instance), each with its own attempts. The step row
-- keeps the counts a decision needs, so deciding on one item reads the items in flight and the
-- next few to start, never all of them: the cost per item stays flat at 10,000 items.
ALTER TABLE steps
    ADD COLUMN items_total     integer,  -- NULL: not a `foreach` step (or not started)
    ADD COLUMN items_next      integer,  -- items [0, items_next) have started
    ADD COLUMN items_succeeded integer,
    ADD COLUMN items_failed    integer;  -- failed or timed out (cancelled items are not counted)

CREATE TABLE instances (
    execution_id uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_id      text NOT NULL,
    idx          integer NOT NULL,
    item         jsonb NOT NULL,
    status       text NOT NULL,  -- queued, running (also while waiting to retry), or ended
    attempts     integer NOT NULL DEFAULT 0,
    output       jsonb,
    error        jsonb,
    PRIMARY KEY (execution_id, step_id, idx)
) WITH (fillfactor = 70);
-- The items in flight, read by every decision on the step.
CREATE INDEX instances_running ON instances (execution_id, step_id) WHERE status = 'running';

-- An attempt of an instance names it; attempt numbers count per instance.
ALTER TABLE attempts ADD COLUMN instance integer;
ALTER TABLE attempts DROP CONSTRAINT attempts_execution_id_step_id_n_key;
CREATE UNIQUE INDEX attempts_step_instance_n
    ON attempts (execution_id, step_id, coalesce(instance, -1), n);

-- A retry timer of an instance names it.
ALTER TABLE timers ADD COLUMN instance integer;
