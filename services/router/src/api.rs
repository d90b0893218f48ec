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
    let st = engine::state(&mut tx, &exec, steps, &def).await?;
    let input = weft_engine::Input::Cancel {
        reason: "cancelled by an operator".into(),
    };
    let batch = engine::decide(&mut tx, &exec, st, &def, input, engine::now()).await?;
    engine::commit(store, bus, tx, batch, "cancelling an execution").await?;
    Ok(CancelOutcome::Cancelled)
}

/// What a decision on an approval step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionOutcome {
    /// Recorded: the step succeeded (approved) or failed (rejected).
    Decided,
    /// No such execution.
    NotFound,
    /// The workflow has no such step.
    NoSuchStep,
    /// The step is not an `approval` step.
    NotAnApproval,
    /// The step is not waiting for a decision (it has this status).
    NotWaiting(String),
    /// `by` is not among the step's `approvers`; they are listed.
    NotAllowed(Vec<String>),
}

/// A person's decision on approval step `step` of execution `id`: checked, then decided by the
/// core under the execution's lock (journaled as a `decision` input, with who, when and the
/// comment).
pub async fn decide_approval(
    store: &Store,
    bus: &Bus,
    id: Uuid,
    step: &str,
    approved: bool,
    by: &str,
    comment: Option<&str>,
) -> Result<DecisionOutcome, RouterError> {
    let mut tx = store.begin().await?;
    let Some((exec, steps)) = db::lock_execution_with_steps(&mut tx, id).await? else {
        return Ok(DecisionOutcome::NotFound);
    };
    let def = Definitions::default()
        .get(store, &exec.workflow, exec.version)
        .await?;
    let Some(step_def) = def.step(step) else {
        return Ok(DecisionOutcome::NoSuchStep);
    };
    let Some(approval) = &step_def.approval else {
        return Ok(DecisionOutcome::NotAnApproval);
    };
    let st = engine::state(&mut tx, &exec, steps, &def).await?;
    let status = st.step(step).map(|s| s.status);
    if ExecutionStatus::parse(&exec.status).is_none_or(ExecutionStatus::is_terminal)
        || status != Some(weft_store::StepStatus::Running)
    {
        let shown = status.map_or("not started", |s| s.as_str());
        return Ok(DecisionOutcome::NotWaiting(shown.to_string()));
    }
    if !approval.approvers.is_empty() && !approval.approvers.iter().any(|a| a == by) {
        return Ok(DecisionOutcome::NotAllowed(approval.approvers.clone()));
    }
    let input = weft_engine::Input::Decision {
        step: step.to_string(),
        approved,
        by: by.to_string(),
        comment: comment.map(str::to_string),
    };
    let batch = engine::decide(&mut tx, &exec, st, &def, input, engine::now()).await?;
    engine::commit(store, bus, tx, batch, "deciding an approval").await?;
    Ok(DecisionOutcome::Decided)
}
