//! Step results → state. A result counts only while its attempt is `running` (checked by the
//! same statement that records it): a duplicate, or the late result of an attempt that timed
//! out or was cancelled, changes nothing.

use std::{sync::Arc, time::Duration};

use weft_bus::{Delivery, Disposition, Handler};
use weft_events::{Outcome, TaskResult};
use weft_store::{AttemptStatus, ExecutionStatus, engine as db};

use crate::{
    RouterError,
    engine::{self, Run},
    service::Shared,
};

pub(crate) struct ResultHandler {
    shared: Arc<Shared>,
}

impl ResultHandler {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    async fn apply(&self, r: TaskResult) -> Result<(), RouterError> {
        let store = &self.shared.store;
        let mut tx = store.begin().await?;
        let Some((exec, steps)) = db::lock_execution_with_steps(&mut tx, r.execution_id).await?
        else {
            tracing::warn!(execution = %r.execution_id, "result for an unknown execution ignored");
            return Ok(());
        };
        if ExecutionStatus::parse(&exec.status).is_none_or(ExecutionStatus::is_terminal) {
            return Ok(());
        }
        let def = self
            .shared
            .defs
            .get(store, &exec.workflow, exec.version)
            .await?;
        let mut run = Run::new(&mut tx, exec, steps, &def);
        let (result, status) = match r.outcome {
            Outcome::Succeeded(v) => (Ok(v), AttemptStatus::Succeeded),
            // The agent gave up on time (e.g. the HTTP request timeout): a timeout, not a failure.
            Outcome::Failed(e) if e.code == "timeout" => (Err(e), AttemptStatus::TimedOut),
            Outcome::Failed(e) => (Err(e), AttemptStatus::Failed),
        };
        let attempt = i32::try_from(r.attempt).unwrap_or(i32::MAX);
        if !run
            .attempt_ended(r.attempt_id, &r.step_id, attempt, result, status)
            .await?
        {
            return Ok(()); // a duplicate or late result: nothing to commit
        }
        let emitted = std::mem::take(&mut run.emitted);
        engine::commit(store, &self.shared.bus, tx, emitted, "committing a result").await?;
        Ok(())
    }
}

impl Handler for ResultHandler {
    async fn handle(&self, delivery: Delivery) -> Disposition {
        let decoded = weft_events::decode_event(&delivery.payload)
            .map_err(|e| e.to_string())
            .and_then(|ev| weft_events::envelope::data_json(&ev).map_err(|e| e.to_string()))
            .and_then(|data| serde_json::from_value::<TaskResult>(data).map_err(|e| e.to_string()));
        let result = match decoded {
            Ok(r) => r,
            Err(reason) => return Disposition::DeadLetter(reason),
        };
        match self.apply(result).await {
            Ok(()) => Disposition::Ack,
            Err(e) => {
                tracing::warn!(error = %e, "cannot apply result; will retry");
                Disposition::Retry(Duration::from_secs(1))
            }
        }
    }
}
