-- The default time limits a run started with (`{timeout_ms, step_timeout_ms}`: the router's
-- settings then), used where its workflow sets none. NULL: none (runs started before).
ALTER TABLE executions ADD COLUMN defaults jsonb;
