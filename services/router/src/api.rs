//! Operations the admin API performs on executions, with the router's locking and outbox.

use uuid::Uuid;
use weft_bus::Bus;
use weft_store::{ExecutionStatus, Store, engine as db};

use crate::{RouterError, definitions::Definitions, engine};

/// What a cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The execution was queued or running and is now cancelled.
    Cancelled,
    /// It had already ended with this status; nothing changed.
    AlreadyFinished(ExecutionStatus),
    /// No such execution.
    NotFound,
}

/// Cancel an execution: running attempts and unfinished steps become `cancelled`, timers are
/// dropped and `dev.weft.execution.cancelled` is published. Late results are ignored.
pub async fn cancel_execution(
    store: &Store,
    bus: &Bus,
    id: Uuid,
) -> Result<CancelOutcome, RouterError> {
    let mut tx = store.begin().await?;
    let Some((exec, steps)) = db::lock_execution_with_steps(&mut tx, id).await? else {
        return Ok(CancelOutcome::NotFound);
    };
    match ExecutionStatus::parse(&exec.status) {
        Some(s) if s.is_terminal() => return Ok(CancelOutcome::AlreadyFinished(s)),
        _ => {}
    }
    let def = Definitions::default()
        .get(store, &exec.workflow, exec.version)
        .await?;
    let st = engine::state(&exec, steps, &def)?;
    let input = weft_engine::Input::Cancel {
        reason: "cancelled by an operator".into(),
    };
    let batch = engine::decide(&mut tx, &exec, st, &def, input, engine::now()).await?;
    engine::commit(store, bus, tx, batch, "cancelling an execution").await?;
    Ok(CancelOutcome::Cancelled)
}
