//! The `weft_workflows` key-value bucket: the active workflows announced to triggers and
//! routers, keyed by name, each value a `weft_flow::Published` as JSON.
//!
//! Consumes stored definitions from the database; produces puts and deletes on the bucket.
//! Touches the bus only.

use std::collections::BTreeSet;

use futures::StreamExt;
use weft_bus::{Bus, BusError};
use weft_events::subjects::WORKFLOWS_BUCKET;
use weft_flow::{Published, Workflow};
use weft_store::{Store, workflows::WorkflowRecord};

use crate::error::ApiError;

fn js(what: &str, e: impl std::fmt::Display) -> BusError {
    BusError::JetStream {
        what: what.to_string(),
        message: e.to_string(),
    }
}

/// Decode a stored definition back into a workflow.
pub(crate) fn decode(record: &WorkflowRecord) -> Result<Workflow, ApiError> {
    serde_json::from_value(record.definition.clone()).map_err(|e| {
        ApiError::Internal(format!(
            "stored definition of workflow {} v{} does not decode: {e}",
            record.name, record.current_version
        ))
    })
}

/// Announce `workflow` at `version` (put its key; unchanged values are not rewritten).
pub(crate) async fn publish(bus: &Bus, version: i32, workflow: &Workflow) -> Result<(), BusError> {
    let kv = bus.kv(WORKFLOWS_BUCKET).await?;
    let value = serde_json::to_vec(&Published {
        version,
        workflow: workflow.clone(),
    })
    .map_err(|e| js("encoding a published workflow", e))?;
    let key = workflow.name.as_str();
    if let Ok(Some(current)) = kv.get(key).await
        && current.as_ref() == value.as_slice()
    {
        return Ok(());
    }
    kv.put(key, value.into())
        .await
        .map_err(|e| js(&format!("putting {key} in bucket {WORKFLOWS_BUCKET}"), e))?;
    Ok(())
}

/// Withdraw a workflow (delete its key; its triggers stop).
pub(crate) async fn withdraw(bus: &Bus, name: &str) -> Result<(), BusError> {
    let kv = bus.kv(WORKFLOWS_BUCKET).await?;
    kv.delete(name).await.map_err(|e| {
        js(
            &format!("deleting {name} from bucket {WORKFLOWS_BUCKET}"),
            e,
        )
    })
}

/// Make the bucket equal to the live workflows of the database.
///
/// A definition that no longer decodes is logged and its key left as it is, so that a model
/// change never silently stops a workflow.
pub(crate) async fn sync(store: &Store, bus: &Bus) -> Result<(), ApiError> {
    let live = store.list_workflows().await?;
    let mut names = BTreeSet::new();
    for record in &live {
        names.insert(record.name.clone());
        match decode(record) {
            Ok(wf) => publish(bus, record.current_version, &wf).await?,
            Err(e) => tracing::error!(error = %e, "workflow left as it is in the registry"),
        }
    }
    let kv = bus.kv(WORKFLOWS_BUCKET).await?;
    let mut keys = kv
        .keys()
        .await
        .map_err(|e| js(&format!("listing bucket {WORKFLOWS_BUCKET}"), e))?;
    let mut stale = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.map_err(|e| js(&format!("listing bucket {WORKFLOWS_BUCKET}"), e))?;
        if !names.contains(&key) {
            stale.push(key);
        }
    }
    for key in stale {
        withdraw(bus, &key).await?;
        tracing::info!(workflow = %key, "withdrew a deleted workflow from the registry");
    }
    tracing::info!(
        count = names.len(),
        "workflow registry in sync with the database"
    );
    Ok(())
}
