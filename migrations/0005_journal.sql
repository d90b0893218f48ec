-- The journal of every execution: each input the router's decision core decided on (start,
-- result, timer, cancel), in order, with the decision's time. Appended in the transaction that
-- applies the decision, so the journal and the state never part; replaying it through the core
-- arrives at the recorded state (`weft replay`).
CREATE TABLE journal (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL,
    input        jsonb NOT NULL
);
-- Entries of one execution are written under its row lock, one transaction after another, so
-- `seq` orders them as they were decided.
CREATE INDEX journal_execution ON journal (execution_id, seq);
