-- Per-step `rate_limit`: a task may wait in the outbox until `not_before` (NULL: publish at
-- once); the delayed publisher reads the due ones by this partial index, the sweeper the rest.
ALTER TABLE outbox ADD COLUMN not_before timestamptz;
CREATE INDEX outbox_delayed ON outbox (not_before) WHERE not_before IS NOT NULL;

-- The theoretical arrival time (GCRA) of each rate-limited step (`<workflow>/<step>`): the
-- next attempt may start at `tat - per` at the earliest.
CREATE TABLE rate_limits (
    name text PRIMARY KEY,
    tat  timestamptz NOT NULL
);
