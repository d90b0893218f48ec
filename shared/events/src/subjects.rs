//! Stream and subject names. Never write these literals anywhere else.

/// Stream holding every event (`weft.events.>`), kept for replay.
pub const EVENTS_STREAM: &str = "WEFT_EVENTS";
/// Subjects captured by [`EVENTS_STREAM`].
pub const EVENTS_ALL: &str = "weft.events.>";
/// Work-queue stream of step attempts to run (`weft.tasks.<agent>`).
pub const TASKS_STREAM: &str = "WEFT_TASKS";
/// Subjects captured by [`TASKS_STREAM`].
pub const TASKS_ALL: &str = "weft.tasks.>";
/// Work-queue stream of step attempt results (`weft.results.<agent>`).
pub const RESULTS_STREAM: &str = "WEFT_RESULTS";
/// Subjects captured by [`RESULTS_STREAM`].
pub const RESULTS_ALL: &str = "weft.results.>";
/// Dead letters: messages a consumer could not decode or handle after every delivery.
pub const DLQ_STREAM: &str = "WEFT_DLQ";
/// Subjects captured by [`DLQ_STREAM`].
pub const DLQ_ALL: &str = "weft.dlq.>";

/// Key-value bucket holding the trigger configuration of every active workflow, keyed by name.
/// Triggers watch it so that applying or deleting a workflow takes effect without a restart.
pub const WORKFLOWS_BUCKET: &str = "weft_workflows";

/// Durable consumer names.
pub const ROUTER_EVENTS_CONSUMER: &str = "router-events";
/// Durable consumer of results used by every router replica.
pub const ROUTER_RESULTS_CONSUMER: &str = "router-results";
/// Durable consumer of the router's `call` tasks (it runs `call` steps' child executions).
pub const ROUTER_CALLS_CONSUMER: &str = "router-calls";
/// Durable consumer of run commands (cancel, approval decisions) used by every router replica.
pub const ROUTER_COMMANDS_CONSUMER: &str = "router-commands";

/// Stream of run commands: what the API asks the router to do to an execution.
pub const COMMANDS_STREAM: &str = "WEFT_COMMANDS";
/// Every command subject.
pub const COMMANDS_ALL: &str = "weft.commands.>";
/// Commands on executions (payload [`crate::Command`], event type [`crate::types::COMMAND`]).
pub const COMMANDS_EXECUTIONS: &str = "weft.commands.executions";

/// Events published by the webhook trigger.
pub const EVENTS_WEBHOOK: &str = "weft.events.webhook";
/// Execution lifecycle events published by the router.
pub const EVENTS_EXECUTION: &str = "weft.events.execution";
/// CloudEvents from outside, accepted by `POST /events` (their own types, never `dev.weft.*`).
pub const EVENTS_EXTERNAL: &str = "weft.events.external";
/// Manual runs requested through the admin API.
pub const EVENTS_MANUAL: &str = "weft.events.manual";

/// Events published by the IMAP trigger (`on.email`).
pub const EVENTS_EMAIL: &str = "weft.events.email";
/// Events published by the local-folder trigger (`on.file`).
pub const EVENTS_FILE: &str = "weft.events.file";
/// Events published by the S3 trigger (`on.s3`).
pub const EVENTS_S3: &str = "weft.events.s3";
/// Events published by the cron trigger (`on.schedule`).
pub const EVENTS_SCHEDULE: &str = "weft.events.schedule";
/// Events published by the PostgreSQL CDC trigger (`on.cdc`).
pub const EVENTS_CDC: &str = "weft.events.cdc";

/// `weft.events.<kind>`: where the trigger service of an `on:` kind publishes.
pub fn trigger_subject(kind: &str) -> String {
    format!("weft.events.{kind}")
}

/// Key-value bucket of trigger health, one key per running trigger instance, written by the
/// trigger services and read by `GET /api/v1/triggers`.
pub const TRIGGERS_BUCKET: &str = "weft_triggers";
/// Key-value bucket of trigger cursors (IMAP UID, file listing, last cron tick, CDC LSN…).
pub const CURSORS_BUCKET: &str = "weft_cursors";
/// Object-store bucket of the `on.file` trigger's folder listings (one object per trigger;
/// too large for a key-value entry). Its cursor in [`CURSORS_BUCKET`] names the object.
pub const FILE_LISTINGS_BUCKET: &str = "weft_file_listings";
/// Key-value bucket of secrets, each value sealed with AES-256-GCM under the master key.
pub const SECRETS_BUCKET: &str = "weft_secrets";
/// Object-store bucket of the `on.s3` trigger's seen objects (key → ETag; one object per
/// trigger, too large for a key-value entry). Its cursor in [`CURSORS_BUCKET`] names the object.
pub const S3_LISTINGS_BUCKET: &str = "weft_s3_listings";

/// `weft.tasks.<agent>`: where the router sends step attempts for `uses: <agent>`.
pub fn task_subject(agent: &str) -> String {
    format!("{TASKS_PREFIX}{agent}")
}

/// What every task subject starts with (the agent follows).
pub const TASKS_PREFIX: &str = "weft.tasks.";

/// `weft.results.<agent>`: where an executor publishes the result of an attempt.
pub fn result_subject(agent: &str) -> String {
    format!("weft.results.{agent}")
}

/// `weft.cancel.<agent>`: core NATS (no stream) subject where the router asks the executors of
/// an agent to stop a running attempt.
pub fn cancel_subject(agent: &str) -> String {
    format!("weft.cancel.{agent}")
}

/// `weft.steps.<execution id>`: core NATS (no stream) subject where the router tells live views
/// how the steps of one execution move (`dev.weft.step.*`), best effort, after each commit.
pub fn step_events_subject(execution_id: &uuid::Uuid) -> String {
    format!("weft.steps.{execution_id}")
}

/// Key-value bucket of the agent registry: one key `<agent>.<replica>` per live executor
/// replica, refreshed by its heartbeat and expiring when the replica stops refreshing it.
pub const AGENTS_BUCKET: &str = "weft_agents";

/// Object-store bucket of the artifact store's JetStream backend.
pub const ARTIFACTS_BUCKET: &str = "weft_artifacts";

/// `weft.dlq.<stream>`: where a consumer parks a message it could not handle.
pub fn dlq_subject(stream: &str) -> String {
    format!("weft.dlq.{}", stream.to_ascii_lowercase())
}

/// Executor durable consumer name for an agent (shared by every replica).
pub fn executor_consumer(agent: &str) -> String {
    format!("exec-{agent}")
}
