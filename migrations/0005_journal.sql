-- The journal of every execution: each input the router's decision core decided on (start,
-- result, timer, cancel, refuse, decision), in order, with the decision's time. Appended in the
-- transaction that applies the decision, so the journal and the state never part; replaying it
-- through the core arrives at the recorded state (`weft replay`). A result's outcome is not
-- copied here: it is the ended attempt's row (status, output, error), which never changes after.
CREATE TABLE journal (
    execution_id uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    -- Entries of one execution are written under its row lock, one transaction after another,
    -- so `seq` orders them as they were decided.
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    at           timestamptz NOT NULL,
    input        jsonb NOT NULL,
    PRIMARY KEY (execution_id, seq)
);
