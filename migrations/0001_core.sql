-- Weft core state: workflow definitions, executions, steps, attempts, durable timers, outbox.

CREATE TABLE workflows (
    name            text PRIMARY KEY,
    current_version integer NOT NULL,
    deleted_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workflow_versions (
    name       text NOT NULL REFERENCES workflows (name),
    version    integer NOT NULL,
    format     text NOT NULL,
    source     text NOT NULL,
    definition jsonb NOT NULL,
    digest     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

-- One execution per (workflow, triggering event): the id is derived from both, so a
-- redelivered event can never create a second one.
CREATE TABLE executions (
    id          uuid PRIMARY KEY,
    workflow    text NOT NULL,
    version     integer NOT NULL,
    status      text NOT NULL,
    event_id    text NOT NULL,
    event       jsonb NOT NULL,
    inputs      jsonb NOT NULL DEFAULT '{}'::jsonb,
    output      jsonb,
    error       jsonb,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at  timestamptz,
    finished_at timestamptz
);
CREATE INDEX executions_newest ON executions (created_at DESC, id DESC);
CREATE INDEX executions_workflow_newest ON executions (workflow, created_at DESC, id DESC);
CREATE INDEX executions_status_newest ON executions (status, created_at DESC, id DESC);
CREATE INDEX executions_event ON executions (event_id);

CREATE TABLE steps (
    execution_id uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_id      text NOT NULL,
    status       text NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    output       jsonb,
    error        jsonb,
    started_at   timestamptz,
    finished_at  timestamptz,
    PRIMARY KEY (execution_id, step_id)
);

CREATE TABLE attempts (
    id           uuid PRIMARY KEY,
    execution_id uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_id      text NOT NULL,
    n            integer NOT NULL,
    status       text NOT NULL,
    output       jsonb,
    error        jsonb,
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at  timestamptz,
    UNIQUE (execution_id, step_id, n)
);

-- Durable timers: retries, step timeouts, workflow timeouts. Any router replica fires them.
CREATE TABLE timers (
    id           uuid PRIMARY KEY,
    execution_id uuid NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    kind         text NOT NULL,
    step_id      text,
    attempt_id   uuid,
    due_at       timestamptz NOT NULL
);
CREATE INDEX timers_due ON timers (due_at);
CREATE INDEX timers_execution ON timers (execution_id);

-- Transactional outbox: messages committed with the state change that emits them.
CREATE TABLE outbox (
    id         text PRIMARY KEY,
    subject    text NOT NULL,
    payload    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX outbox_oldest ON outbox (created_at);
