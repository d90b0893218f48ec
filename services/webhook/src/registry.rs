//! The live route table: which webhook paths exist right now.
//!
//! Consumes the `weft_workflows` key-value bucket (through `weft_bus::kv::watch_map`, value
//! [`Published`]); produces a table `path → workflow names`, rebuilt on every KV update, so an
//! apply or delete takes effect as soon as the update arrives. Touches NATS only through the
//! watch.

use std::{collections::BTreeMap, sync::Arc};

use tokio::sync::watch;
use weft_bus::{Bus, kv::Snapshot};
use weft_events::subjects::WORKFLOWS_BUCKET;
use weft_flow::Published;
use weft_runtime::Shutdown;

/// Webhook path (without surrounding `/`) → names of the workflows it triggers.
pub type RouteTable = BTreeMap<String, Vec<String>>;

/// What the table says about a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The bucket has not been read yet.
    NotLoaded,
    /// No published workflow listens on the path.
    Unknown,
    /// These workflows listen on the path.
    Known(Vec<String>),
}

/// A cheap, cloneable handle on the current route table.
#[derive(Debug, Clone)]
pub struct Registry {
    table: watch::Receiver<Option<Arc<RouteTable>>>,
}

impl Registry {
    /// Watch the workflows bucket until `shutdown` and keep the table current.
    pub fn watch(bus: Bus, shutdown: Shutdown) -> Self {
        let snapshots = weft_bus::kv::watch_map::<Published>(bus, WORKFLOWS_BUCKET, shutdown);
        Self::from_snapshots(snapshots)
    }

    /// Derive the table from a stream of bucket snapshots (`None` = not loaded yet).
    pub fn from_snapshots(mut snapshots: watch::Receiver<Option<Snapshot<Published>>>) -> Self {
        let first = snapshots
            .borrow_and_update()
            .as_ref()
            .map(|s| Arc::new(build(s)));
        let (tx, table) = watch::channel(first);
        tokio::spawn(async move {
            // Ends when the watch task ends (shutdown) or every registry handle is gone.
            while snapshots.changed().await.is_ok() {
                let next = snapshots
                    .borrow_and_update()
                    .as_ref()
                    .map(|s| Arc::new(build(s)));
                if tx.send(next).is_err() {
                    return;
                }
            }
        });
        Self { table }
    }

    /// Look a request path up.
    pub fn lookup(&self, path: &str) -> Lookup {
        match self.table.borrow().as_ref() {
            None => Lookup::NotLoaded,
            Some(table) => match table.get(normalize(path)) {
                Some(names) => Lookup::Known(names.clone()),
                None => Lookup::Unknown,
            },
        }
    }
}

/// Build the table from a snapshot of the bucket.
pub fn build(snapshot: &Snapshot<Published>) -> RouteTable {
    let mut table = RouteTable::new();
    for published in snapshot.values() {
        let workflow = &published.workflow;
        for trigger in workflow.on.webhook.as_slice() {
            let names = table
                .entry(normalize(&trigger.path).to_string())
                .or_default();
            if !names.contains(&workflow.name) {
                names.push(workflow.name.clone());
            }
        }
    }
    table
}

/// A path as the table keys it: without leading or trailing `/`.
pub fn normalize(path: &str) -> &str {
    path.trim_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn published(name: &str, paths: serde_json::Value) -> Arc<Published> {
        let value = json!({
            "version": 1,
            "workflow": {"name": name, "on": {"webhook": paths}, "steps": {}},
        });
        Arc::new(serde_json::from_value(value).expect("published"))
    }

    #[test]
    fn table_lists_every_path_of_every_workflow() {
        let mut map = BTreeMap::new();
        map.insert("a".to_string(), published("a", json!({"path": "/orders/"})));
        map.insert(
            "b".to_string(),
            published("b", json!([{"path": "orders"}, {"path": "github/push"}])),
        );
        let table = build(&Arc::new(map));
        assert_eq!(table["orders"], vec!["a".to_string(), "b".to_string()]);
        assert_eq!(table["github/push"], vec!["b".to_string()]);
        assert_eq!(table.len(), 2);
    }

    #[tokio::test]
    async fn not_loaded_until_first_snapshot() {
        let (tx, rx) = watch::channel(None);
        let registry = Registry::from_snapshots(rx);
        assert_eq!(registry.lookup("x"), Lookup::NotLoaded);
        let mut map = BTreeMap::new();
        map.insert("w".to_string(), published("w", json!({"path": "x"})));
        tx.send_replace(Some(Arc::new(map)));
        for _ in 0..100 {
            if registry.lookup("/x") != Lookup::NotLoaded {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(registry.lookup("/x"), Lookup::Known(vec!["w".into()]));
        assert_eq!(registry.lookup("y"), Lookup::Unknown);
    }
}
