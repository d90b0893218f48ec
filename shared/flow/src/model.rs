//! The workflow file's types. Field names are the public contract of the file format.

use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A workflow: triggers, an optional filter and a DAG of steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// Unique name: lowercase letters, digits and `-`, at most 63 characters.
    pub name: String,
    /// What the workflow is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What starts the workflow. Optional: every workflow can also be run by hand.
    #[serde(default)]
    pub on: Triggers,
    /// Filter on the triggering event: when false, no execution is created.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Whole-execution time limit, e.g. `30s`, `5m`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::duration::option"
    )]
    #[schemars(with = "Option<crate::duration::DurationString>")]
    pub timeout: Option<Duration>,
    /// How many runs of a group (`key`) run at once, and what a run beyond that does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<crate::gate::Concurrency>,
    /// Of a burst of events in a group (`key`), only the last runs, once the group was quiet
    /// for `period`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debounce: Option<crate::gate::Debounce>,
    /// The execution's output, a template evaluated when it succeeds. Default: the outputs
    /// of the steps nothing depends on, keyed by step id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The steps, by id. Ids: letters, digits, `_` and `-`, starting with a letter.
    pub steps: IndexMap<String, Step>,
    /// Steps (shaped like `steps:`, with ids of their own) that run when the execution fails —
    /// once every step has ended and one failed — with the error as `execution.error`. Their
    /// `needs` name each other. The execution stays failed whatever they do.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub on_failure: IndexMap<String, Step>,
}

impl Workflow {
    /// A step of `steps:` or `on_failure:` by id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.get(id).or_else(|| self.on_failure.get(id))
    }
}

/// The `on:` block. Each kind takes one object or a list of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    /// HTTP requests to `POST /hooks/{path}`.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub webhook: OneOrMany<WebhookTrigger>,
    /// New mail in an IMAP mailbox.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub email: OneOrMany<crate::triggers::EmailTrigger>,
    /// Files landing in a local folder.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub file: OneOrMany<crate::triggers::FileTrigger>,
    /// Objects landing in an S3 bucket.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub s3: OneOrMany<crate::triggers::S3Trigger>,
    /// Cron schedules.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub schedule: OneOrMany<crate::triggers::ScheduleTrigger>,
    /// Row changes in PostgreSQL tables.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub cdc: OneOrMany<crate::triggers::CdcTrigger>,
    /// Any CloudEvent on the bus, matched by `type`, `source` and `subject`.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub event: OneOrMany<EventTrigger>,
    /// Another workflow ended (from its lifecycle events): `{name, status}`.
    #[serde(default, skip_serializing_if = "OneOrMany::is_empty")]
    pub workflow: OneOrMany<crate::WorkflowTrigger>,
    /// Runs requested through the admin API or `weft run`, with declared inputs.
    /// A bare `manual:` (null) means a manual trigger without inputs.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::de::null_is_default"
    )]
    pub manual: Option<ManualTrigger>,
}

impl Triggers {
    /// The kinds run by their own trigger services, with how many triggers of each this block
    /// has: `email`, `file`, `s3`, `schedule`, `cdc` (the `on:` keys, also the `<kind>` of
    /// their events' source `weft/<kind>/<workflow>`).
    pub fn service_kinds(&self) -> [(&'static str, usize); 5] {
        [
            ("email", self.email.as_slice().len()),
            ("file", self.file.as_slice().len()),
            ("s3", self.s3.as_slice().len()),
            ("schedule", self.schedule.as_slice().len()),
            ("cdc", self.cdc.as_slice().len()),
        ]
    }
}

/// One object or a list of objects.
// `Deserialize` is written by hand in `crate::de`: the derived untagged impl swallows the
// inner error (unknown field, wrong type) and its position.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "OneOrMany_{T}")]
pub enum OneOrMany<T> {
    /// A single object.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        Self::Many(Vec::new())
    }
}

impl<T> OneOrMany<T> {
    /// Whether there is nothing.
    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Many(v) if v.is_empty())
    }

    /// The items as a slice.
    pub fn as_slice(&self) -> &[T] {
        match self {
            Self::One(t) => std::slice::from_ref(t),
            Self::Many(v) => v,
        }
    }
}

/// `on.webhook`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookTrigger {
    /// Path under `/hooks/`, e.g. `orders` or `github/push`: letters, digits, `-`, `_`, `.`, `/`.
    pub path: String,
    /// How a request proves its origin (exactly one scheme). Default: no check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<crate::WebhookAuth>,
    /// `accepted` (default): answer 202 once the event is stored; `wait`: answer with the
    /// execution's outcome.
    #[serde(default, skip_serializing_if = "crate::Respond::is_default")]
    pub respond: crate::Respond,
    /// With `respond: wait`, how long to wait before answering 202. Default `10s`, at most `5m`.
    #[serde(
        default = "WebhookTrigger::default_wait_timeout",
        skip_serializing_if = "WebhookTrigger::is_default_wait_timeout",
        with = "crate::duration::required"
    )]
    #[schemars(with = "crate::duration::DurationString")]
    pub wait_timeout: Duration,
}

impl WebhookTrigger {
    /// Default for [`WebhookTrigger::wait_timeout`]: 10 s.
    pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(10);

    fn default_wait_timeout() -> Duration {
        Self::DEFAULT_WAIT_TIMEOUT
    }

    fn is_default_wait_timeout(d: &Duration) -> bool {
        *d == Self::DEFAULT_WAIT_TIMEOUT
    }
}

/// `on.event`: every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTrigger {
    /// CloudEvent `type`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ty: Option<StringMatch>,
    /// CloudEvent `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<StringMatch>,
    /// CloudEvent `subject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<StringMatch>,
}

/// A string matched exactly, by prefix or by suffix.
// `Deserialize` is written by hand in `crate::de` (see `OneOrMany`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum StringMatch {
    /// The exact string.
    Exact(String),
    /// `{prefix: …}` or `{suffix: …}`.
    Pattern(MatchPattern),
}

/// `{prefix: …}` or `{suffix: …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum MatchPattern {
    /// Starts with.
    Prefix(String),
    /// Ends with.
    Suffix(String),
}

impl StringMatch {
    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(s) => s == value,
            Self::Pattern(MatchPattern::Prefix(p)) => value.starts_with(p.as_str()),
            Self::Pattern(MatchPattern::Suffix(s)) => value.ends_with(s.as_str()),
        }
    }
}

/// `on.manual`: declared inputs, checked when a run is requested.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualTrigger {
    /// Inputs by name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub inputs: IndexMap<String, InputSpec>,
}

/// One declared input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// What the input is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON type the value must have.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ty: Option<InputType>,
    /// Whether a run must supply it (ignored when `default` is set).
    #[serde(default)]
    pub required: bool,
    /// Value used when a run does not supply one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

/// JSON type of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    /// A string.
    String,
    /// Any number.
    Number,
    /// An integer.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
}

/// One step of the DAG: an agent's call (`uses`), or one of the built-in kinds — `sleep` /
/// `until` (a durable wait), `switch` (a branch), `approval` (a person's decision) or `wait` (an
/// event). Exactly one of `uses`, `call`, `sleep`, `until`, `switch`, `approval` and `wait` is
/// set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The agent that runs it, e.g. `http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses: Option<String>,
    /// Run this workflow as a child execution (a sub-workflow) with `inputs`; its output is
    /// the step's output, its failure the step's. Cancelling the step (or the run) cancels it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// With `call`: the child's inputs (`inputs` in its expressions); may hold expressions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Value>,
    /// Run the step once per item of this list (`${{ … }}`), each item an instance with its own
    /// attempts and retries; `item` and `index` are in its expressions. The step's output is
    /// the list of the instances' outputs, in item order. Goes with `uses`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreach: Option<String>,
    /// With `foreach`: how many items run at once. Default 1, at most 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// With `foreach`: the first item that fails (after its retries) fails the step and
    /// cancels the items still running. Default `true`; with `false` every item runs and the
    /// step fails after them if any failed (its output still lists every item, `null` for
    /// those that failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_fast: Option<bool>,
    /// Wait this long, durably (a router restart does not shorten or lose it), then succeed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::duration::option"
    )]
    #[schemars(with = "Option<crate::duration::DurationString>")]
    pub sleep: Option<Duration>,
    /// Wait until this time (RFC 3339, usually `${{ … }}`), durably, then succeed; a time in
    /// the past succeeds at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Branch on this value (`${{ … }}`): the steps listed under the matching `cases` key (or
    /// under `default`) run; the steps of the other branches are skipped, and so are the steps
    /// that need them. The step's output is `{value, case}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch: Option<String>,
    /// For a `switch`: a value (as text; other JSON values as their JSON text, e.g. `1`,
    /// `true`) → the ids of the steps of that branch.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub cases: IndexMap<String, Vec<String>>,
    /// For a `switch`: the ids of the steps that run when no case matches. Without it, a value
    /// that matches no case fails the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Vec<String>>,
    /// Wait for a person's decision: `POST /api/v1/executions/{id}/steps/{step}/approve` (the
    /// step succeeds with `{approved, by, comment, at, message}`) or `…/reject` (it fails with
    /// code `rejected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// Wait for a CloudEvent: one that matches `type` (and `source`, `subject`, `match`)
    /// arriving while the step waits, or up to `window` before it began. The event is the
    /// step's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<Wait>,
    /// When the step runs, given how its needs ended: `success` (the default: every need
    /// succeeded), `failure` (some need failed or timed out) or `always` (once they all ended).
    #[serde(default, skip_serializing_if = "When::is_success")]
    pub when: When,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The agent's parameters; strings may hold `${{ … }}` expressions.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub with: Value,
    /// Steps that must succeed first (a single id or a list).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "crate::model::needs"
    )]
    #[schemars(with = "OneOrMany<String>")]
    pub needs: Vec<String>,
    /// When false, the step is skipped (and so are the steps that need it).
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Retry policy for failures the agent calls retryable.
    #[serde(default, skip_serializing_if = "RetryPolicy::is_default")]
    pub retry: RetryPolicy,
    /// Time limit for one attempt.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::duration::option"
    )]
    #[schemars(with = "Option<crate::duration::DurationString>")]
    pub timeout: Option<Duration>,
    /// Longest silence allowed from a running attempt: the executor sends heartbeats while it
    /// works, and an attempt not heard from within this time (its executor died or lost the
    /// bus) is failed as `timed_out` and retried per `retry`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::duration::option"
    )]
    #[schemars(with = "Option<crate::duration::DurationString>")]
    pub heartbeat_timeout: Option<Duration>,
    /// At most `limit` attempts of this step start per `per`, across every run of the
    /// workflow (with `uses` or `call`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::gate::RateLimit>,
    /// When true, a failure of this step neither skips its dependents nor fails the execution.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continue_on_error: bool,
}

/// `approval:` of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// What is asked (may hold `${{ … }}`); shown with the step while it waits.
    pub message: String,
    /// Who may decide (names as given with the decision); empty: anyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// How long to wait for a decision; then the step is `timed_out`. Default: no limit
    /// (the workflow's `timeout` still applies).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::duration::option"
    )]
    #[schemars(with = "Option<crate::duration::DurationString>")]
    pub timeout: Option<Duration>,
}

/// `wait:` of a step: which event ends the wait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Wait {
    /// CloudEvent `type` (exact, or `{prefix: …}` / `{suffix: …}`). Required: it is how an
    /// arriving event finds the steps waiting for it.
    #[serde(rename = "type")]
    pub ty: StringMatch,
    /// CloudEvent `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<StringMatch>,
    /// CloudEvent `subject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<StringMatch>,
    /// A condition (bare or `${{ … }}`) the event must meet. In it `event` is the arriving
    /// event; the execution's own triggering event is `execution.event`; `steps` and `inputs`
    /// are the execution's, e.g. `event.data.order_id == steps.order.output.body.id`. An
    /// event it cannot be evaluated on (a missing field) does not match.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// How long to wait; then the step is `timed_out`. Default: no limit (the workflow's
    /// `timeout` still applies).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::duration::option"
    )]
    #[schemars(with = "Option<crate::duration::DurationString>")]
    pub timeout: Option<Duration>,
    /// How long before the wait began a matching event still counts (a reply that overtook
    /// the step waiting for it). Default `5m`, at most `1d`; `0s` counts only later events.
    /// The execution's triggering event never counts, nor an event another `wait` step of the
    /// same execution already took.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::duration::option"
    )]
    #[schemars(with = "Option<crate::duration::DurationString>")]
    pub window: Option<Duration>,
}

impl Wait {
    /// The default `window`.
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
    /// The largest `window` (events kept for waits are dropped after it).
    pub const MAX_WINDOW: Duration = Duration::from_secs(86_400);

    /// The step's `window`, or the default.
    pub fn window(&self) -> Duration {
        self.window.unwrap_or(Self::DEFAULT_WINDOW)
    }

    /// Whether an event's `type`, `source` and `subject` match (`match` aside).
    pub fn accepts(&self, ty: &str, source: &str, subject: Option<&str>) -> bool {
        self.ty.matches(ty)
            && self.source.as_ref().is_none_or(|m| m.matches(source))
            && self
                .subject
                .as_ref()
                .is_none_or(|m| subject.is_some_and(|s| m.matches(s)))
    }

    /// The exact `type`, when it is one (how waits are looked up); `None` for a pattern.
    pub fn exact_type(&self) -> Option<&str> {
        match &self.ty {
            StringMatch::Exact(t) => Some(t),
            StringMatch::Pattern(_) => None,
        }
    }
}

/// `when:` of a step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// Every need succeeded (or failed with `continue_on_error`).
    #[default]
    Success,
    /// Some need failed or timed out.
    Failure,
    /// Every need ended, however.
    Always,
}

impl When {
    fn is_success(&self) -> bool {
        *self == When::Success
    }
}

/// The agent name of `call` steps: their tasks go to the router, which runs the child execution
/// (an executor may not announce it).
pub const CALL_AGENT: &str = "call";

/// How deep `call`s may nest by default (a root execution is depth 0).
pub const MAX_CALL_DEPTH: i32 = 10;

/// The most items of a `foreach` step that run at once.
pub const MAX_ITEM_CONCURRENCY: u32 = 1000;

/// The most items one `foreach` step takes.
pub const MAX_ITEMS: usize = 100_000;

/// What a step does, from its fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepKind<'a> {
    /// Call an agent.
    Agent(&'a str),
    /// Run a workflow as a child execution.
    Call(&'a str),
    /// Wait this long.
    Sleep(Duration),
    /// Wait until the time this expression gives.
    Until(&'a str),
    /// Branch on this expression's value.
    Switch(&'a str),
    /// Wait for a person's decision.
    Approval(&'a Approval),
    /// Wait for an event.
    Wait(&'a Wait),
}

impl Step {
    /// What the step does (`None` when no kind is set: validation refuses it).
    pub fn kind(&self) -> Option<StepKind<'_>> {
        if let Some(agent) = &self.uses {
            return Some(StepKind::Agent(agent));
        }
        if let Some(workflow) = &self.call {
            return Some(StepKind::Call(workflow));
        }
        if let Some(d) = self.sleep {
            return Some(StepKind::Sleep(d));
        }
        if let Some(t) = &self.until {
            return Some(StepKind::Until(t));
        }
        if let Some(s) = &self.switch {
            return Some(StepKind::Switch(s));
        }
        if let Some(w) = &self.wait {
            return Some(StepKind::Wait(w));
        }
        self.approval.as_ref().map(StepKind::Approval)
    }

    /// The agent, for an agent step.
    pub fn agent(&self) -> Option<&str> {
        self.uses.as_deref()
    }

    /// Who runs the step's attempts: its agent, or [`CALL_AGENT`] (the router) for a `call`.
    pub fn executor(&self) -> Option<&str> {
        self.agent()
            .or_else(|| self.call.as_ref().map(|_| CALL_AGENT))
    }

    /// A `foreach` step's item concurrency.
    pub fn item_concurrency(&self) -> u32 {
        self.concurrency.unwrap_or(1).clamp(1, MAX_ITEM_CONCURRENCY)
    }

    /// Whether a `foreach` step stops at its first failed item.
    pub fn fails_fast(&self) -> bool {
        self.fail_fast.unwrap_or(true)
    }

    /// For a `switch`: every step id of every branch (cases, then default).
    pub fn branch_steps(&self) -> impl Iterator<Item = &str> {
        self.cases
            .values()
            .flatten()
            .chain(self.default.iter().flatten())
            .map(String::as_str)
    }
}

/// `retry:` of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Total attempts, at least 1 (1 = no retry).
    #[serde(default = "RetryPolicy::default_attempts")]
    pub attempts: u32,
    /// Wait before the second attempt.
    #[serde(
        default = "RetryPolicy::default_backoff",
        with = "crate::duration::required"
    )]
    #[schemars(with = "crate::duration::DurationString")]
    pub backoff: Duration,
    /// Multiplier applied to the wait after each attempt.
    #[serde(default = "RetryPolicy::default_factor")]
    pub factor: f64,
    /// Upper bound of the wait.
    #[serde(
        default = "RetryPolicy::default_max_backoff",
        with = "crate::duration::required"
    )]
    #[schemars(with = "crate::duration::DurationString")]
    pub max_backoff: Duration,
}

impl RetryPolicy {
    fn default_attempts() -> u32 {
        1
    }
    fn default_backoff() -> Duration {
        Duration::from_secs(1)
    }
    fn default_factor() -> f64 {
        2.0
    }
    fn default_max_backoff() -> Duration {
        Duration::from_secs(300)
    }

    /// Whether this is the default policy (no retry).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Wait before attempt `next` (2 for the first retry): `backoff * factor^(next-2)`, capped.
    pub fn delay_before(&self, next: u32) -> Duration {
        let exp = next.saturating_sub(2) as i32;
        let secs = self.backoff.as_secs_f64() * self.factor.powi(exp);
        let capped = secs.min(self.max_backoff.as_secs_f64()).max(0.0);
        Duration::from_secs_f64(capped)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: Self::default_attempts(),
            backoff: Self::default_backoff(),
            factor: Self::default_factor(),
            max_backoff: Self::default_max_backoff(),
        }
    }
}

/// `needs:` accepts a single id or a list.
pub(crate) mod needs {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::OneOrMany;

    pub fn serialize<S: Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match OneOrMany::<String>::deserialize(d)? {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy {
            attempts: 5,
            backoff: Duration::from_millis(500),
            factor: 2.0,
            max_backoff: Duration::from_millis(1500),
        };
        assert_eq!(p.delay_before(2), Duration::from_millis(500));
        assert_eq!(p.delay_before(3), Duration::from_millis(1000));
        assert_eq!(p.delay_before(4), Duration::from_millis(1500));
    }

    #[test]
    fn string_match() {
        assert!(StringMatch::Exact("a".into()).matches("a"));
        assert!(StringMatch::Pattern(MatchPattern::Prefix("gh/".into())).matches("gh/x"));
        assert!(!StringMatch::Pattern(MatchPattern::Suffix(".x".into())).matches("a.y"));
    }
}
