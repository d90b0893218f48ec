//! Events → executions (and → the `wait` steps waiting for them, see [`crate::waits`]). For each workflow an event matches (and whose `if` holds), one
//! execution with an id derived from (workflow, event source, event id) is created and started in one
//! transaction. A redelivered event finds its execution already started and changes nothing.
//! While the database is unreachable an event waits in the consume loop
//! (`Disposition::Unavailable`), however long that takes; other failures are retried a bounded
//! number of times.

use std::{sync::Arc, time::Duration};

use cloudevents::{AttributesReader, Event};
use serde_json::{Value, json};
use tokio::sync::watch;
use weft_bus::{Delivery, Disposition, Handler, kv::Snapshot};
use weft_engine::{Execution, Input, Step};
use weft_events::{ids, types};
use weft_flow::Published;
use weft_store::{ExecutionStatus, Tx, engine as db, executions::ExecutionRow};

use crate::{RouterError, engine, gate, index, overlap, rerun, service::Shared, waits};

/// How often an event that names a workflow (webhook path, manual run) but matched none is
/// retried: the router's view of the bucket may lag the webhook's by a moment.
const LAG_RETRIES: i64 = 5;

pub(crate) struct EventHandler {
    shared: Arc<Shared>,
    workflows: watch::Receiver<Option<Snapshot<Published>>>,
}

impl EventHandler {
    pub fn new(
        shared: Arc<Shared>,
        workflows: watch::Receiver<Option<Snapshot<Published>>>,
    ) -> Self {
        Self { shared, workflows }
    }

    async fn start(
        &self,
        event: &Event,
        data: &Value,
        published: &Published,
    ) -> Result<(), RouterError> {
        let wf = &published.workflow;
        let id = ids::execution_id(&wf.name, event.source(), event.id());
        let mut event_json = weft_events::event_json(event);
        // The doors refuse U+0000; a trigger service without one (mail, files, CDC) may still
        // send it. PostgreSQL cannot store it: keep the event, with U+FFFD in its place.
        if weft_events::text::replace_nul(&mut event_json) {
            tracing::warn!(event = %event.id(), "U+0000 in the event replaced by U+FFFD for storage");
        }
        let manual = index::is_manual(event);
        let inputs = match data.get("inputs") {
            Some(v) if manual && v.is_object() => v.clone(),
            _ => json!({}),
        };
        let mut refused = None;
        if let (Some(cond), false) = (&wf.condition, manual) {
            let ctx = weft_engine::event_context(&event_json, &inputs);
            match crate::expr::condition(cond, &ctx).await {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) => {
                    let message = format!("workflow `if`: {e}");
                    refused = Some(json!({"code": e.code().as_str(), "message": message}))
                }
            }
        }
        self.shared
            .defs
            .insert_with(&wf.name, published.version, || Arc::new(wf.clone()));
        let store = &self.shared.store;
        let new = db::NewExecution {
            id,
            workflow: &wf.name,
            version: published.version,
            status: ExecutionStatus::Queued,
            event_id: event.id(),
            event: &event_json,
            inputs: &inputs,
        };
        // A rerun passes no gate: it repeats one run, it is not a new one.
        let rerun = manual.then(|| rerun::request(data)).flatten();
        let gated = wf.concurrency.is_some() || wf.debounce.is_some();
        if refused.is_none() && gated && rerun.is_none() {
            let ctx = weft_engine::event_context(&event_json, &inputs);
            match self.gate(&new, wf, &ctx, manual).await {
                Ok(done) => return done,
                Err(error) => refused = Some(error),
            }
        }
        let policy = overlap::policy(wf, event, data);
        if refused.is_none() && policy != weft_flow::triggers::Overlap::Allow {
            return overlap::start(&self.shared, &new, wf, policy).await;
        }
        let mut tx = store.begin().await?;
        // Common case, one statement: the execution is new; create it running, steps queued.
        let step_ids: Vec<&str> = wf.steps.keys().map(String::as_str).collect();
        let fresh = refused.is_none() && !manual;
        let at = engine::now();
        let defaults = self.shared.defaults_json.as_ref();
        if fresh && db::create_running_execution(&mut tx, &new, &step_ids, at, defaults).await? {
            let def = self
                .shared
                .defs
                .get(store, &wf.name, published.version)
                .await?;
            let (exec, st) = created(&new, &def, at, defaults);
            let batch = engine::decide(&mut tx, &exec, st, &def, self.shared.start(), at).await?;
            return engine::commit(&self.shared, tx, batch, "committing a new execution").await;
        }
        // Otherwise: a redelivery, a manual run the API queued, or a refused start.
        db::insert_execution(&mut tx, &new).await?;
        self.settle_queued(tx, id, refused, rerun).await
    }

    /// Admit a run of a workflow with `concurrency` or `debounce` through its group's gate;
    /// `Err` is the run's error (its group `key` could not be rendered).
    async fn gate(
        &self,
        new: &db::NewExecution<'_>,
        wf: &weft_flow::Workflow,
        ctx: &Value,
        manual: bool,
    ) -> Result<Result<(), RouterError>, Value> {
        let shared = &self.shared;
        if let Some(c) = &wf.concurrency {
            let key = gate::key(c.key.as_deref(), ctx)?;
            return Ok(gate::admit(shared, new, wf, c, &key, manual).await);
        }
        match &wf.debounce {
            Some(d) => {
                let key = gate::key(d.key.as_deref(), ctx)?;
                Ok(gate::debounce(shared, new, wf, d.period, &key, manual).await)
            }
            None => Ok(Ok(())),
        }
    }

    /// Fail the queued execution of a manual run whose workflow no longer exists.
    async fn abandon(&self, event: &Event) -> Result<(), RouterError> {
        let name = event.subject().unwrap_or_default();
        let id = ids::execution_id(name, event.source(), event.id());
        let message = format!("workflow `{name}` was deleted before the run started");
        let error = json!({"code": "workflow_deleted", "message": message});
        let tx = self.shared.store.begin().await?;
        self.settle_queued(tx, id, Some(error), None).await
    }

    /// Under its lock, start a `queued` execution (keeping the upstream steps of a rerun), or
    /// fail it with `error`; an execution that already left `queued` (a redelivery) is left
    /// alone.
    async fn settle_queued(
        &self,
        mut tx: Tx<'static>,
        id: uuid::Uuid,
        error: Option<Value>,
        rerun: Option<rerun::Request>,
    ) -> Result<(), RouterError> {
        let Some((exec, steps)) = db::lock_execution_with_steps(&mut tx, id).await? else {
            return Ok(());
        };
        if exec.status != ExecutionStatus::Queued.as_str() {
            return Ok(());
        }
        let store = &self.shared.store;
        let def = self
            .shared
            .defs
            .get(store, &exec.workflow, exec.version)
            .await?;
        let st = engine::state(&mut tx, &exec, steps, &def).await?;
        let input = match (error, rerun) {
            (Some(error), _) => Input::Refuse { error },
            (None, Some(r)) => match rerun::kept(store, &def, &r).await? {
                Ok(kept) => self.shared.start_keeping(kept),
                Err(error) => Input::Refuse { error },
            },
            (None, None) => self.shared.start(),
        };
        let batch = engine::decide(&mut tx, &exec, st, &def, input, engine::now()).await?;
        engine::commit(&self.shared, tx, batch, "settling a queued execution").await
    }
}

/// The row [`db::create_running_execution`] just wrote (without reading it back), and the
/// core's view of it: running since `at`, every step queued.
pub(crate) fn created(
    new: &db::NewExecution<'_>,
    wf: &weft_flow::Workflow,
    at: chrono::DateTime<chrono::Utc>,
    defaults: Option<&Value>,
) -> (ExecutionRow, Execution) {
    let exec = ExecutionRow {
        id: new.id,
        workflow: new.workflow.to_string(),
        version: new.version,
        status: ExecutionStatus::Running.as_str().into(),
        event_id: new.event_id.to_string(),
        event: new.event.clone(),
        inputs: new.inputs.clone(),
        output: None,
        error: None,
        created_at: at,
        started_at: Some(at),
        finished_at: None,
        parent: None,
        depth: 0,
        defaults: defaults.cloned(),
    };
    let mut st = Execution::created(
        new.id,
        new.workflow,
        new.version,
        new.event_id,
        new.event.clone(),
        new.inputs.clone(),
    );
    st.status = ExecutionStatus::Running;
    st.started_at = Some(at);
    st.steps = wf.steps.keys().map(|id| Step::queued(id)).collect();
    (exec, st)
}

impl Handler for EventHandler {
    async fn handle(&self, delivery: Delivery) -> Disposition {
        let event = match weft_events::decode_event(&delivery.payload) {
            Ok(e) => e,
            Err(e) => return Disposition::DeadLetter(e.to_string()),
        };
        let Some(snapshot) = self.workflows.borrow().clone() else {
            // Not a fault of the event: the registry watch has not loaded yet.
            return Disposition::Unavailable("the workflow registry is not loaded yet".into());
        };
        let mut data = weft_events::envelope::data_json(&event).unwrap_or(Value::Null);
        weft_events::text::replace_nul(&mut data);
        if let Some(name) = overlap::ended_workflow(&event, &data) {
            // A run ended: a tick buffered by `overlap: buffer_one` may start now.
            let scheduled = snapshot
                .get(name)
                .is_some_and(|p| !p.workflow.on.schedule.is_empty());
            if scheduled && let Err(e) = overlap::promote(&self.shared, name).await {
                tracing::warn!(workflow = name, error = %e, "cannot start a buffered tick; will retry");
                return e.disposition(Duration::from_secs(1));
            }
            // And a run waiting in its `concurrency` group.
            let ended = data["execution_id"].as_str().and_then(|s| s.parse().ok());
            if let (Some(p), Some(id)) = (snapshot.get(name), ended)
                && let Err(e) = gate::ended(&self.shared, &p.workflow, id).await
            {
                tracing::warn!(workflow = name, error = %e, "cannot start a waiting run; will retry");
                return e.disposition(Duration::from_secs(1));
            }
        }
        let matched: Vec<Arc<Published>> = snapshot
            .values()
            .filter(|p| index::matches(p, &event, &data))
            .cloned()
            .collect();
        let named = event.ty() == types::WEBHOOK_RECEIVED || index::is_manual(&event);
        if matched.is_empty() && named && delivery.delivered < LAG_RETRIES {
            return Disposition::Retry(Duration::from_millis(200));
        }
        if matched.is_empty() && index::is_manual(&event) {
            // The workflow was deleted after the API queued this run: end it, never leave it
            // queued forever.
            if let Err(e) = self.abandon(&event).await {
                tracing::warn!(event = %event.id(), error = %e, "cannot fail an orphaned run; will retry");
                return e.disposition(Duration::from_secs(1));
            }
        }
        for published in matched {
            if let Err(e) = self.start(&event, &data, &published).await {
                let trace_id = weft_events::trace::trace_id(&event).unwrap_or_default();
                tracing::warn!(event = %event.id(), %trace_id, workflow = %published.workflow.name, error = %e, "cannot start execution; will retry");
                return e.disposition(Duration::from_secs(1));
            }
        }
        if let Err(e) = waits::offer(&self.shared, &snapshot, &event).await {
            tracing::warn!(event = %event.id(), error = %e, "cannot offer the event to waits; will retry");
            return e.disposition(Duration::from_secs(1));
        }
        Disposition::Ack
    }
}
