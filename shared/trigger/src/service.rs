//! [`TriggerService`]: keeps one supervised instance running for every trigger of its kind in
//! the published workflows, following the `weft_workflows` and `weft_secrets` buckets live.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::kv;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use weft_bus::{Bus, kv::Snapshot};
use weft_events::subjects::{CURSORS_BUCKET, TRIGGERS_BUCKET, WORKFLOWS_BUCKET};
use weft_flow::Published;
use weft_runtime::{Parts, Shutdown};
use weft_secrets::Secrets;

use crate::health::{Health, TriggerHealth};
use crate::{Source, TriggerCtx, TriggerError, supervise::supervise};

/// How long a replaced or removed instance gets to stop before its successor starts anyway.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What a trigger service needs besides its source.
#[derive(Debug, Clone)]
pub struct TriggerDeps {
    /// Events, cursors, health and the workflows bucket.
    pub bus: Bus,
    /// Resolves `${{ secrets.NAME }}` in configs (with [`Secrets::none`], configs that
    /// reference a secret stay in `error`).
    pub secrets: Secrets,
}

impl TriggerDeps {
    /// The bus, and no secrets.
    pub fn without_secrets(bus: Bus) -> Self {
        Self {
            bus,
            secrets: Secrets::none(),
        }
    }
}

/// Runs every trigger of one kind.
#[derive(Debug)]
pub struct TriggerService<S: Source> {
    source: Arc<S>,
    bus: Bus,
    secrets: Secrets,
}

/// A running instance (or, when its config could not be resolved, only its health entry).
struct Instance {
    /// The resolved config, or the resolution error, to notice changes.
    fingerprint: Result<Value, String>,
    stop: Shutdown,
    removed: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl<S: Source> TriggerService<S> {
    /// A service for `source` (its kind's settings) over `deps`. Starts nothing.
    pub fn new(source: S, deps: TriggerDeps) -> Self {
        Self {
            source: Arc::new(source),
            bus: deps.bus,
            secrets: deps.secrets,
        }
    }

    /// Run until `shutdown`; then stop every instance (their health says `stopped`). `Err`
    /// when the workflows watch or the reconciler ended on its own before shutdown.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), TriggerError> {
        let mut parts = Parts::new(&shutdown);
        let stop = parts.signal();
        let (snapshots, workflows) = watch::channel(None);
        let watch = weft_bus::kv::follow_map::<Published>(
            self.bus.clone(),
            WORKFLOWS_BUCKET.to_string(),
            snapshots,
            stop.clone(),
        );
        parts.add("workflows watch", watch);
        parts.add("reconciler", self.reconcile_until(workflows, stop));
        Ok(parts.run().await?)
    }

    /// Keep one instance per trigger of the published workflows until `shutdown`.
    async fn reconcile_until(
        self,
        mut workflows: watch::Receiver<Option<Snapshot<Published>>>,
        shutdown: Shutdown,
    ) {
        let Some((cursors, health)) = self.buckets(&shutdown).await else {
            return;
        };
        let mut secrets = self.secrets.clone();
        let mut running: HashMap<String, Instance> = HashMap::new();
        tracing::info!(kind = S::KIND, "trigger service started");
        loop {
            let snapshot = workflows.borrow_and_update().clone();
            if let Some(snapshot) = snapshot {
                self.reconcile(&snapshot, &mut running, &cursors, &health, &shutdown)
                    .await;
            }
            tokio::select! {
                r = workflows.changed() => if r.is_err() { break },
                _ = secrets.changed() => {}
                _ = shutdown.wait() => break,
            }
        }
        for (_, instance) in running.drain() {
            stop(instance, false).await;
        }
        tracing::info!(kind = S::KIND, "trigger service stopped");
    }

    /// The cursor and health buckets, retried until the bus answers or shutdown.
    async fn buckets(&self, shutdown: &Shutdown) -> Option<(kv::Store, kv::Store)> {
        let mut backoff = Duration::from_millis(200);
        loop {
            let opened = async {
                Ok::<_, weft_bus::BusError>((
                    self.bus.kv(CURSORS_BUCKET).await?,
                    self.bus.kv(TRIGGERS_BUCKET).await?,
                ))
            };
            match opened.await {
                Ok(buckets) => return Some(buckets),
                Err(e) => tracing::warn!(kind = S::KIND, error = %e, "trigger buckets unavailable"),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.wait() => return None,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn reconcile(
        &self,
        snapshot: &Snapshot<Published>,
        running: &mut HashMap<String, Instance>,
        cursors: &kv::Store,
        health: &kv::Store,
        shutdown: &Shutdown,
    ) {
        let mut desired = HashMap::new();
        for published in snapshot.values() {
            let name = &published.workflow.name;
            for (index, config) in S::configs(&published.workflow.on).iter().enumerate() {
                let key = TriggerHealth::key(name, S::KIND, index);
                desired.insert(key, (name.clone(), index, self.resolve(config)));
            }
        }
        let stale: Vec<String> = running
            .iter()
            .filter(|(key, inst)| {
                desired
                    .get(*key)
                    .is_none_or(|(_, _, resolved)| fingerprint(resolved) != inst.fingerprint)
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in stale {
            if let Some(instance) = running.remove(&key) {
                let removed = !desired.contains_key(&key);
                tracing::info!(%key, removed, "stopping trigger");
                stop(instance, removed).await;
            }
        }
        for (key, (workflow, index, resolved)) in desired {
            if running.contains_key(&key) {
                continue;
            }
            let instance = self.start(&workflow, index, resolved, cursors, health, shutdown);
            running.insert(key, instance);
        }
    }

    fn resolve(&self, config: &S::Config) -> Result<S::Config, String> {
        let raw = serde_json::to_value(config).map_err(|e| e.to_string())?;
        let resolved = self.secrets.resolve(&raw).map_err(|e| e.to_string())?;
        serde_json::from_value(resolved).map_err(|e| e.to_string())
    }

    fn start(
        &self,
        workflow: &str,
        index: usize,
        resolved: Result<S::Config, String>,
        cursors: &kv::Store,
        health_kv: &kv::Store,
        shutdown: &Shutdown,
    ) -> Instance {
        let stop = shutdown.child();
        let removed = Arc::new(AtomicBool::new(false));
        let health = Health::new(workflow, S::KIND, index);
        let fingerprint = fingerprint(&resolved);
        let mut tasks = Vec::new();
        match resolved {
            Ok(config) => {
                tracing::info!(%workflow, kind = S::KIND, index, "starting trigger");
                let ctx = TriggerCtx {
                    workflow: workflow.to_string(),
                    scope: S::scope(&config),
                    config,
                    shutdown: stop.clone(),
                    kind: S::KIND,
                    bus: self.bus.clone(),
                    cursors: cursors.clone(),
                    health: health.clone(),
                };
                tasks.push(tokio::spawn(supervise(self.source.clone(), ctx)));
            }
            Err(message) => {
                tracing::warn!(%workflow, kind = S::KIND, index, error = %message,
                    "trigger cannot start");
                health.error(format!("cannot start: {message}"));
            }
        }
        let gone = removed.clone();
        tasks.push(tokio::spawn(health.publish(
            health_kv.clone(),
            stop.clone(),
            move || gone.load(Ordering::SeqCst),
        )));
        Instance {
            fingerprint,
            stop,
            removed,
            tasks,
        }
    }
}

/// Stop an instance and wait (bounded) for it; `removed` deletes its health entry.
async fn stop(instance: Instance, removed: bool) {
    instance.removed.store(removed, Ordering::SeqCst);
    instance.stop.trigger();
    for task in instance.tasks {
        if tokio::time::timeout(STOP_GRACE, task).await.is_err() {
            tracing::warn!("a trigger did not stop within {STOP_GRACE:?}; moving on");
        }
    }
}

fn fingerprint<C: serde::Serialize>(resolved: &Result<C, String>) -> Result<Value, String> {
    match resolved {
        Ok(c) => serde_json::to_value(c).map_err(|e| e.to_string()),
        Err(e) => Err(e.clone()),
    }
}
