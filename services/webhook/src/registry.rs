//! The live route table: which webhook paths exist right now.
//!
//! Consumes the `weft_workflows` key-value bucket (through `weft_bus::kv::watch_map`, value
//! [`Published`]); produces a table `path → routes` (each a workflow with its trigger for the
//! path: auth, respond, and the workflow `if`), rebuilt on every KV update, so an apply or
//! delete takes effect as soon as the update arrives. Touches NATS only through the watch.

use std::{collections::BTreeMap, sync::Arc};

use tokio::sync::watch;
use weft_bus::{Bus, kv::Snapshot};
use weft_events::subjects::WORKFLOWS_BUCKET;
use weft_flow::{Published, WebhookTrigger};
use weft_runtime::Shutdown;

/// Webhook path (without surrounding `/`) → the workflows it triggers, ordered by name.
pub type RouteTable = BTreeMap<String, Vec<Route>>;

/// One workflow listening on a path.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The workflow's name.
    pub workflow: String,
    /// Its `on.webhook` entry for the path (auth, respond, wait_timeout).
    pub trigger: WebhookTrigger,
    /// The workflow `if`, evaluated here only to know whether a `respond: wait` caller can
    /// expect an execution.
    pub condition: Option<String>,
}

/// What the table says about a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The bucket has not been read yet.
    NotLoaded,
    /// No published workflow listens on the path.
    Unknown,
    /// These workflows listen on the path.
    Known(Vec<Route>),
}

/// A cheap, cloneable handle on the current route table.
#[derive(Debug, Clone)]
pub struct Registry {
    table: Arc<watch::Sender<Option<Arc<RouteTable>>>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty table, [`Lookup::NotLoaded`] until [`Registry::follow`] sees the bucket.
    pub fn new() -> Self {
        Self {
            table: Arc::new(watch::channel(None).0),
        }
    }

    /// Watch the workflows bucket until `shutdown` and keep the table current.
    pub async fn watch(self, bus: Bus, shutdown: Shutdown) {
        let (tx, snapshots) = watch::channel(None);
        let watch =
            weft_bus::kv::follow_map::<Published>(bus, WORKFLOWS_BUCKET.to_string(), tx, shutdown);
        // The watch drops its sender when it ends, which ends `follow` too.
        tokio::join!(watch, self.follow(snapshots));
    }

    /// Derive the table from a stream of bucket snapshots (`None` = not loaded yet), until
    /// the stream ends.
    pub async fn follow(&self, mut snapshots: watch::Receiver<Option<Snapshot<Published>>>) {
        loop {
            let next = snapshots
                .borrow_and_update()
                .as_ref()
                .map(|s| Arc::new(build(s)));
            self.table.send_replace(next);
            if snapshots.changed().await.is_err() {
                return;
            }
        }
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
            let routes = table
                .entry(normalize(&trigger.path).to_string())
                .or_default();
            if !routes.iter().any(|r| r.workflow == workflow.name) {
                routes.push(Route {
                    workflow: workflow.name.clone(),
                    trigger: trigger.clone(),
                    condition: workflow.condition.clone(),
                });
            }
        }
    }
    for routes in table.values_mut() {
        routes.sort_by(|a, b| a.workflow.cmp(&b.workflow));
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
        let names =
            |p: &str| -> Vec<&str> { table[p].iter().map(|r| r.workflow.as_str()).collect() };
        assert_eq!(names("orders"), ["a", "b"]);
        assert_eq!(names("github/push"), ["b"]);
        assert_eq!(table["github/push"][0].trigger.path, "github/push");
        assert_eq!(table.len(), 2);
    }

    #[tokio::test]
    async fn not_loaded_until_first_snapshot() {
        let (tx, rx) = watch::channel(None);
        let registry = Registry::new();
        let follower = registry.clone();
        tokio::spawn(async move { follower.follow(rx).await });
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
        let Lookup::Known(routes) = registry.lookup("/x") else {
            panic!("x is known");
        };
        assert_eq!(routes[0].workflow, "w");
        assert_eq!(registry.lookup("y"), Lookup::Unknown);
    }
}
