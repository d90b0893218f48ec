//! The `weft_workflows` key-value bucket: the active workflows announced to triggers and
//! routers, keyed by name, each value a `weft_flow::Published` as JSON.
//!
//! Consumes stored definitions from the database; produces puts and deletes on the bucket.
//! Touches the bus only.

use std::collections::BTreeSet;

use async_nats::jetstream::kv::Operation;
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
    decode_definition(&record.name, record.current_version, &record.definition)
}

/// Decode the stored `definition` of workflow `name` at `version`.
pub(crate) fn decode_definition(
    name: &str,
    version: i32,
    definition: &serde_json::Value,
) -> Result<Workflow, ApiError> {
    serde_json::from_value(definition.clone()).map_err(|e| {
        ApiError::Internal(format!(
            "stored definition of workflow {name} v{version} does not decode: {e}"
        ))
    })
}

/// Announce `workflow` at `version`. Unchanged values are not rewritten, and a newer version
/// already announced is never replaced by an older one: the write is a compare-and-set on the
/// key's revision, so two API replicas applying at the same instant leave the newest version.
pub(crate) async fn publish(bus: &Bus, version: i32, workflow: &Workflow) -> Result<(), BusError> {
    #[derive(serde::Deserialize)]
    struct Announced {
        version: i32,
    }
    let kv = bus.kv(WORKFLOWS_BUCKET).await?;
    let value = serde_json::to_vec(&Published {
        version,
        workflow: workflow.clone(),
    })
    .map_err(|e| js("encoding a published workflow", e))?;
    let key = workflow.name.as_str();
    let fail =
        |e: &dyn std::fmt::Display| js(&format!("putting {key} in bucket {WORKFLOWS_BUCKET}"), e);
    for _ in 0..5 {
        let current = kv.entry(key).await.map_err(|e| fail(&e))?;
        let written = match current.filter(|e| e.operation == Operation::Put) {
            Some(entry) => {
                let newer = serde_json::from_slice::<Announced>(&entry.value)
                    .is_ok_and(|a| a.version > version);
                if entry.value.as_ref() == value.as_slice() || newer {
                    return Ok(());
                }
                kv.update(key, value.clone().into(), entry.revision)
                    .await
                    .is_ok()
            }
            None => kv.create(key, value.clone().into()).await.is_ok(),
        };
        if written {
            return Ok(());
        }
        // Someone else wrote the key in between: look again.
    }
    Err(fail(&"the key kept changing under concurrent writers"))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn workflow() -> Workflow {
        serde_json::from_value(serde_json::json!({
            "name": "wf", "on": {"webhook": {"path": "x"}}, "steps": {"a": {"uses": "http"}}
        }))
        .expect("workflow")
    }

    async fn announced(bus: &Bus) -> (i32, u64) {
        let kv = bus.kv(WORKFLOWS_BUCKET).await.expect("bucket");
        let entry = kv.entry("wf").await.expect("entry").expect("present");
        let p: Published = serde_json::from_slice(&entry.value).expect("published");
        (p.version, entry.revision)
    }

    #[tokio::test]
    async fn an_older_version_never_replaces_a_newer_one() {
        let nats = weft_testkit::NatsServer::start().await.expect("nats");
        let bus = Bus::connect(&nats.url, "test").await.expect("bus");
        let wf = workflow();
        publish(&bus, 2, &wf).await.expect("v2");
        publish(&bus, 1, &wf).await.expect("v1 is a no-op");
        assert_eq!(announced(&bus).await.0, 2);
        let (_, revision) = announced(&bus).await;
        publish(&bus, 2, &wf).await.expect("same again");
        assert_eq!(
            announced(&bus).await.1,
            revision,
            "an unchanged value is not rewritten"
        );
        publish(&bus, 3, &wf).await.expect("v3");
        assert_eq!(announced(&bus).await.0, 3);
        // After a delete the key is created again.
        withdraw(&bus, "wf").await.expect("withdraw");
        publish(&bus, 4, &wf).await.expect("v4");
        assert_eq!(announced(&bus).await.0, 4);
    }
}
