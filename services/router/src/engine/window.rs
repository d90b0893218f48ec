//! What a decision reads of a running `foreach` step: its items in flight, the next ones it
//! may start, and the items' outputs only when the step may end with this decision.
//!
//! Consumes the step's counts (read with the steps); reads `instances` and their attempts
//! through `weft_store::instances`; fills the step's [`Fanout`]. One decision ends at most one
//! item in flight (a result, a timeout) and may start `concurrency - in flight + 1` items, so
//! the step can end only when at most one item is in flight and the items left fit in that
//! room — exactly when the outputs are read (as bytes: see [`weft_engine::Fanout::outputs`]).

use uuid::Uuid;
use weft_engine::{Attempt, AttemptStatus, Fanout, Instance};
use weft_store::{StoreError, Tx, instances};

/// Fill `f` (the counts of step `step`, running with `concurrency`) for a decision.
pub(super) async fn load(
    tx: &mut Tx<'_>,
    execution_id: Uuid,
    step: &str,
    concurrency: u32,
    f: &mut Fanout,
) -> Result<(), StoreError> {
    let open = instances::open(tx, execution_id, step).await?;
    f.open = open
        .into_iter()
        .map(|o| {
            let attempt = match (o.attempt_id, o.attempt_status.as_deref()) {
                (Some(id), Some(text)) => Some(Attempt {
                    id,
                    n: o.attempts,
                    status: AttemptStatus::parse(text).ok_or_else(|| StoreError::Corrupt {
                        what: "attempt status",
                        message: text.to_string(),
                    })?,
                }),
                _ => None,
            };
            Ok(Instance {
                index: u32::try_from(o.idx).unwrap_or(0),
                item: o.item,
                attempts: o.attempts,
                attempt,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let in_flight = u32::try_from(f.open.len()).unwrap_or(u32::MAX);
    let room = concurrency.saturating_sub(in_flight).saturating_add(1);
    let left = f.total.saturating_sub(f.next);
    let count = room.min(left);
    f.pending = if count > 0 {
        instances::next(tx, execution_id, step, f.next, count)
            .await?
            .into()
    } else {
        Default::default()
    };
    if in_flight <= 1 && left <= room {
        f.outputs = Some(instances::outputs(tx, execution_id, step).await?);
    }
    Ok(())
}
