-- `wait` steps: the steps waiting for an event, found by the event's type, and the events a
-- wait may still take (kept for at most a day: a wait counts events up to its `window` before
-- it began). Only events some published `wait` could match are kept.
CREATE TABLE waits (
    execution_id uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_id      text NOT NULL,
    event_type   text,  -- the exact type awaited; NULL when the step gives a prefix or suffix
    PRIMARY KEY (execution_id, step_id)
);
CREATE INDEX waits_event_type ON waits (event_type);

CREATE TABLE wait_events (
    seq         bigserial PRIMARY KEY,
    source      text NOT NULL,
    id          text NOT NULL,
    type        text NOT NULL,
    event       jsonb NOT NULL,
    received_at timestamptz NOT NULL,
    UNIQUE (source, id)
);
CREATE INDEX wait_events_type_time ON wait_events (type, received_at);
CREATE INDEX wait_events_time ON wait_events (received_at);
