//! CloudEvent `type` values produced by Weft (reverse-DNS under `dev.weft.`).

/// A request arrived on `POST /hooks/{path}`.
pub const WEBHOOK_RECEIVED: &str = "dev.weft.webhook.received";
/// A manual run was requested through the admin API or the CLI.
pub const MANUAL_REQUESTED: &str = "dev.weft.manual.requested";
/// A new message arrived in a watched IMAP mailbox.
pub const EMAIL_RECEIVED: &str = "dev.weft.email.received";
/// A complete new file in a watched folder.
pub const FILE_CREATED: &str = "dev.weft.file.created";
/// A watched file was rewritten.
pub const FILE_MODIFIED: &str = "dev.weft.file.modified";
/// A watched file was removed.
pub const FILE_DELETED: &str = "dev.weft.file.deleted";
/// A new object in a watched S3 bucket.
pub const S3_OBJECT_CREATED: &str = "dev.weft.s3.object.created";
/// An object in a watched S3 bucket changed (new ETag).
pub const S3_OBJECT_UPDATED: &str = "dev.weft.s3.object.updated";
/// A cron schedule ticked.
pub const SCHEDULE_FIRED: &str = "dev.weft.schedule.fired";
/// A row was inserted in a watched table.
pub const CDC_ROW_INSERTED: &str = "dev.weft.cdc.row.inserted";
/// A row was updated in a watched table.
pub const CDC_ROW_UPDATED: &str = "dev.weft.cdc.row.updated";
/// A row was deleted from a watched table.
pub const CDC_ROW_DELETED: &str = "dev.weft.cdc.row.deleted";
/// A step attempt to run (payload [`crate::Task`]).
pub const TASK: &str = "dev.weft.task";
/// A command on an execution, from the API to the router (payload [`crate::Command`]).
pub const COMMAND: &str = "dev.weft.command";

/// The result of a step attempt (payload [`crate::TaskResult`]).
pub const TASK_RESULT: &str = "dev.weft.task.result";
/// A running attempt is alive (payload [`crate::Heartbeat`]).
pub const TASK_HEARTBEAT: &str = "dev.weft.task.heartbeat";
/// Stop a running attempt (payload [`crate::Cancel`]).
pub const TASK_CANCEL: &str = "dev.weft.task.cancel";

/// A `call` step started a child execution (its triggering event: `data.inputs`, `data.parent`).
pub const CALL: &str = "dev.weft.call";

/// An execution started.
pub const EXECUTION_STARTED: &str = "dev.weft.execution.started";
/// A step moved (started, retrying, succeeded, failed, timed out, skipped, cancelled): the
/// suffix is its new status. Live only, on `weft.steps.<execution id>`.
pub const STEP_PREFIX: &str = "dev.weft.step.";
/// An execution ended with every required step succeeded.
pub const EXECUTION_SUCCEEDED: &str = "dev.weft.execution.succeeded";
/// An execution ended with a failed step.
pub const EXECUTION_FAILED: &str = "dev.weft.execution.failed";
/// An execution was cancelled by an operator.
pub const EXECUTION_CANCELLED: &str = "dev.weft.execution.cancelled";
/// An execution ran past its workflow `timeout`.
pub const EXECUTION_TIMED_OUT: &str = "dev.weft.execution.timed_out";

/// Source of events emitted by the router.
pub const SOURCE_ROUTER: &str = "weft/router";
/// Source of events emitted by the admin API.
pub const SOURCE_API: &str = "weft/api";
/// Source of an event from a trigger service: `weft/<kind>/<workflow>`, e.g.
/// `weft/email/invoices`. The router starts exactly that workflow for it.
pub fn trigger_source(kind: &str, workflow: &str) -> String {
    format!("weft/{kind}/{workflow}")
}
/// Source prefix of webhook events: `weft/webhook/<path>`.
pub const SOURCE_WEBHOOK: &str = "weft/webhook";

/// Prefix of every type Weft produces; `POST /events` refuses events that claim it.
pub const WEFT_PREFIX: &str = "dev.weft.";

/// CloudEvents extension attribute of `dev.weft.webhook.received`: the comma-separated names of
/// the workflows on the path whose `on.webhook.auth` the request satisfied (all of them when none
/// has `auth`). The router starts only those.
pub const EXT_WEBHOOK_WORKFLOWS: &str = "weftworkflows";
