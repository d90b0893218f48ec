//! Replaying an execution's journal through the decision core and comparing the result with
//! what the database holds (`weft replay <id>`, and the end-to-end tests after each run).
//!
//! Consumes an execution's row, steps, journal and workflow definition from PostgreSQL;
//! produces a [`Replay`] report. Writes nothing.

use uuid::Uuid;
use weft_engine::{Execution, Settings, replay::Divergence};
use weft_store::{Store, engine as db};

use crate::{RouterError, definitions::Definitions};

/// What replaying one execution showed.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// Journal entries replayed.
    pub entries: usize,
    /// The state the database holds.
    pub recorded: Execution,
    /// The state the journal replays to.
    pub replayed: Execution,
    /// Where they part (`None`: the same).
    pub divergence: Option<Divergence>,
}

/// The outcome an ended attempt's row records.
fn recorded_outcome(a: &weft_store::executions::EndedAttempt) -> weft_engine::Outcome {
    if a.status == weft_store::AttemptStatus::Succeeded.as_str() {
        return weft_engine::Outcome::Succeeded(a.output.clone().unwrap_or_default());
    }
    let error = a.error.clone().unwrap_or_default();
    weft_engine::Outcome::Failed(serde_json::from_value(error).unwrap_or_else(|e| {
        weft_events::StepError::permanent(
            weft_events::ErrorCode::Internal,
            format!("the attempt's recorded error does not read back: {e}"),
        )
    }))
}

/// Replay execution `id`; `None` when there is no such execution.
pub async fn replay(store: &Store, id: Uuid) -> Result<Option<Replay>, RouterError> {
    let mut tx = store.begin().await?;
    // The lock gives a consistent read of the execution, its steps and its journal.
    let Some((exec, steps)) = db::lock_execution_with_steps(&mut tx, id).await? else {
        return Ok(None);
    };
    let wf = Definitions::default()
        .get(store, &exec.workflow, exec.version)
        .await?;
    let recorded = crate::engine::state(&mut tx, &exec, steps, &wf).await?;
    let mut journal = weft_store::journal::read(&mut tx, id).await?;
    weft_store::commit(tx, "reading an execution to replay").await?;
    // A result's outcome is its ended attempt's row (the journal does not copy it).
    let attempts = store.ended_attempts(id).await?;
    for entry in &mut journal {
        if let weft_engine::Input::Result {
            attempt_id,
            outcome,
            ..
        } = &mut entry.input
            && outcome.is_none()
        {
            *outcome = attempts.get(attempt_id).map(recorded_outcome);
        }
    }
    let created = Execution::created(
        exec.id,
        &exec.workflow,
        exec.version,
        &exec.event_id,
        exec.event.clone(),
        exec.inputs.clone(),
    );
    let settings = Settings {
        max_task_bytes: crate::cancel::max_task_bytes(),
        ..Settings::STEP
    };
    let replayed = weft_engine::replay::replay(&wf, created, &journal, &settings);
    let divergence = weft_engine::replay::compare(&recorded, &replayed);
    Ok(Some(Replay {
        entries: journal.len(),
        recorded,
        replayed,
        divergence,
    }))
}
