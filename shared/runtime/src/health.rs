//! `/healthz` (the process is up), `/readyz` (its dependencies answer) and `/metrics`.

use std::{future::Future, pin::Pin, sync::Arc};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use serde_json::json;

use crate::telemetry::metrics_handle;

/// A boxed readiness probe: `Ok` when the dependency answers.
pub type ReadyCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Named readiness probes (e.g. `bus`, `database`).
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<(String, ReadyCheck)>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.checks.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Readiness").field("checks", &names).finish()
    }
}

impl Readiness {
    /// Add a probe.
    pub fn with<F, Fut>(mut self, name: &str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks
            .push((name.to_string(), Arc::new(move || Box::pin(check()))));
        self
    }

    /// Add a [`Gate`] as the probe `name`: not ready while it is held.
    pub fn with_gate(self, name: &str, gate: Gate) -> Self {
        self.with(name, move || {
            let held = gate.held();
            async move { held.map_or(Ok(()), Err) }
        })
    }

    /// Merge the probes of another set (for `weft dev`, which hosts every service).
    pub fn merge(mut self, other: Readiness) -> Self {
        for (name, check) in other.checks {
            if !self.checks.iter().any(|(n, _)| *n == name) {
                self.checks.push((name, check));
            }
        }
        self
    }

    async fn run(&self) -> (bool, serde_json::Value) {
        let mut ok = true;
        let mut out = serde_json::Map::new();
        for (name, check) in &self.checks {
            let result = tokio::time::timeout(std::time::Duration::from_secs(2), check()).await;
            let status = match result {
                Ok(Ok(())) => "ok".to_string(),
                Ok(Err(e)) => {
                    ok = false;
                    e
                }
                Err(_) => {
                    ok = false;
                    "no answer within 2s".to_string()
                }
            };
            out.insert(name.clone(), json!(status));
        }
        (ok, serde_json::Value::Object(out))
    }
}

/// A readiness condition the process sets itself, e.g. "the workflows it was asked to apply at
/// start are applied and routable" (`weft dev --apply`). Cloned handles share the state.
#[derive(Debug, Clone, Default)]
pub struct Gate(Arc<std::sync::Mutex<Option<String>>>);

impl Gate {
    /// A gate held (not ready) for `reason`.
    pub fn held_for(reason: &str) -> Self {
        let gate = Gate::default();
        gate.hold(reason);
        gate
    }

    /// Not ready, for `reason`, until [`Gate::open`].
    pub fn hold(&self, reason: &str) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(reason.to_string());
        }
    }

    /// Ready (as far as this gate goes).
    pub fn open(&self) {
        if let Ok(mut g) = self.0.lock() {
            *g = None;
        }
    }

    /// The reason while held; `None` when open.
    pub fn held(&self) -> Option<String> {
        self.0.lock().ok().and_then(|g| g.clone())
    }
}

/// Routes `/healthz`, `/readyz`, `/metrics`.
pub fn health_router(readiness: Readiness) -> Router {
    let metrics = metrics_handle();
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(ready))
        .route("/metrics", get(move || async move { metrics.render() }))
        .with_state(Arc::new(readiness))
}

async fn ready(State(readiness): State<Arc<Readiness>>) -> impl IntoResponse {
    let (ok, checks) = readiness.run().await;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"status": if ok { "ready" } else { "not_ready" }, "checks": checks})),
    )
}
