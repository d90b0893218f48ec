-- Executor platform v2: lines an attempt logged (bounded by the executor) and how many it
-- dropped beyond the bound; shown by GET /api/v1/executions/{id}.
ALTER TABLE attempts
    ADD COLUMN logs jsonb,
    ADD COLUMN logs_dropped bigint NOT NULL DEFAULT 0;
