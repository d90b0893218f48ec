//! A rerun `from` a step (`POST /api/v1/executions/{id}/rerun`): the API queues a new run of
//! the same workflow version with the original's event and inputs, announced by a manual-run
//! event whose data names the original (`rerun_of`) and the step (`from`). When the router
//! starts it, the steps upstream of `from` start as the original left them (their outputs
//! kept, in the start's journal entry); `from` and everything else runs again.
//!
//! Reads the original's steps from PostgreSQL; writes nothing.

use serde_json::{Value, json};
use uuid::Uuid;
use weft_engine::Kept;
use weft_flow::Workflow;
use weft_store::{Store, executions::kept_steps};

use crate::RouterError;

/// What a rerun asks for.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// The run it reruns.
    pub original: Uuid,
    /// The step it reruns from.
    pub from: String,
}

/// The rerun a manual-run event's data asks for, if any.
pub(crate) fn request(data: &Value) -> Option<Request> {
    let original = data["rerun_of"].as_str()?.parse().ok()?;
    let from = data["from"].as_str()?.to_string();
    Some(Request { original, from })
}

/// The steps upstream of `from`, as the original run left them; `Err` is the rerun's error
/// when one of them did not succeed or was skipped (the API checks this first; the original
/// cannot change once ended, so this only fails for a run deleted meanwhile).
pub(crate) async fn kept(
    store: &Store,
    wf: &Workflow,
    r: &Request,
) -> Result<Result<Vec<Kept>, Value>, RouterError> {
    let (rows, _) = store.execution_steps(r.original).await?;
    let upstream = weft_flow::dag::upstream(wf, &r.from);
    Ok(match kept_steps(&rows, upstream) {
        Ok(steps) => Ok(steps
            .into_iter()
            .map(|(row, status)| Kept {
                id: row.step_id.clone(),
                status,
                output: row.output.clone(),
                error: row.error.clone(),
            })
            .collect()),
        Err(not) => {
            let message = format!(
                "cannot rerun from `{}`: step `{}` upstream of it did not succeed in execution {}",
                r.from, not.step, r.original
            );
            Err(json!({"code": "rerun_upstream", "message": message}))
        }
    })
}
