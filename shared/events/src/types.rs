//! CloudEvent `type` values produced by Weft (reverse-DNS under `dev.weft.`).

/// A request arrived on `POST /hooks/{path}`.
pub const WEBHOOK_RECEIVED: &str = "dev.weft.webhook.received";
/// A manual run was requested through the admin API or the CLI.
pub const MANUAL_REQUESTED: &str = "dev.weft.manual.requested";
/// A step attempt to run (payload [`crate::Task`]).
pub const TASK: &str = "dev.weft.task";
/// The result of a step attempt (payload [`crate::TaskResult`]).
pub const TASK_RESULT: &str = "dev.weft.task.result";

/// An execution started.
pub const EXECUTION_STARTED: &str = "dev.weft.execution.started";
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
/// Source prefix of webhook events: `weft/webhook/<path>`.
pub const SOURCE_WEBHOOK: &str = "weft/webhook";

/// Prefix of every type Weft produces; `POST /events` refuses events that claim it.
pub const WEFT_PREFIX: &str = "dev.weft.";

/// CloudEvents extension attribute of `dev.weft.webhook.received`: the comma-separated names of
/// the workflows on the path whose `on.webhook.auth` the request satisfied (all of them when none
/// has `auth`). The router starts only those.
pub const EXT_WEBHOOK_WORKFLOWS: &str = "weftworkflows";
