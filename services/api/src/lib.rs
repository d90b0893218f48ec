//! The admin API: workflows (apply, list, get, versions, delete, run) and executions (list,
//! get, cancel, retry, history, live events, approve/reject a step), secrets (put, list, delete), trigger health, agents and dead letters (list, get, replay) under `/api/v1`, with its OpenAPI document at `/api/v1/openapi.json`.
//!
//! Consumes HTTP requests; reads and writes workflow definitions and executions in PostgreSQL
//! through `weft_store`; produces the `weft_workflows` key-value bucket (the active workflows
//! that triggers and routers watch) and `dev.weft.manual.requested` events on
//! `weft.events.manual` (through the transactional outbox); reads and replays the `WEFT_DLQ`
//! stream. Counts requests by route and status in `weft_api_requests_total`.
//!
//! ```ignore
//! let api = ApiService::new(ApiConfig::default(), ApiDeps { store, bus, master_key, checks });
//! let app = api.router().merge(weft_runtime::health_router(api.readiness()));
//! tokio::spawn(api.run(shutdown)); // makes the registry equal to the database, then idles
//! ```

mod agents;
mod approvals;
mod commands;
mod config;
mod dead_letters;
mod digest;
mod error;
mod event_replay;
mod executions;
mod extract;
mod history;
mod items;
mod live;
mod openapi;
mod params;
mod registry;
mod rerun;
mod retry;
mod runs;
mod secrets;
mod triggers;
mod workflows;

use std::sync::Arc;

use axum::{
    Router,
    extract::{MatchedPath, Request},
    middleware::{self, Next},
    response::Response,
    routing::{get, post, put},
};
use tokio::sync::watch;
use weft_bus::Bus;
use weft_runtime::{Readiness, Shutdown};
use weft_secrets::{MasterKey, SecretStore};
use weft_store::Store;

pub use config::ApiConfig;
pub use error::{ApiError, ErrorBody};
pub use openapi::{ApiDoc, document_json};

/// Prefix of every route.
pub const PREFIX: &str = "/api/v1";

/// What every handler shares.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) store: Store,
    pub(crate) bus: Bus,
    pub(crate) secrets: SecretStore,
    /// Agents' own checks of a literal `with` (by agent), run at apply.
    pub(crate) with_checks: Vec<(String, weft_flow::WithCheck)>,
    /// Settings.
    pub(crate) config: ApiConfig,
    /// Whether the workflow registry has been made equal to the database since start.
    pub(crate) synced: watch::Sender<bool>,
}

impl AppState {
    /// Wait (up to `registry_wait_ms`) until the registry is in sync with the database, so
    /// that a write at start is not undone by the start-up sync.
    pub(crate) async fn registry_synced(&self) -> Result<(), ApiError> {
        let mut synced = self.synced.subscribe();
        match tokio::time::timeout(self.config.registry_wait(), synced.wait_for(|s| *s)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(ApiError::Unavailable {
                message: "the workflow registry is not in sync with the database yet (is the \
                          event bus up?); nothing was changed, try again"
                    .into(),
                cause: "registry not synced".into(),
            }),
        }
    }
}

/// What the admin API needs besides its settings.
#[derive(Clone)]
pub struct ApiDeps {
    /// Workflows, executions.
    pub store: Store,
    /// The workflow registry, secrets, agents and manual events.
    pub bus: Bus,
    /// Seals secrets; without one, storing a secret answers 503 saying so.
    pub master_key: Option<Arc<MasterKey>>,
    /// Agents' own checks of a literal `with`, run when a workflow is applied (the host passes
    /// those of the executors it links, e.g. that a jq program compiles).
    pub checks: Vec<(String, weft_flow::WithCheck)>,
}

impl std::fmt::Debug for ApiDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiDeps")
            .field("master_key", &self.master_key.is_some())
            .field("checks", &self.checks.len())
            .finish_non_exhaustive()
    }
}

/// The admin API service.
#[derive(Debug, Clone)]
pub struct ApiService {
    state: Arc<AppState>,
}

impl ApiService {
    /// A service with these settings over `deps`. Starts nothing; until [`ApiService::run`]
    /// has synced the workflow registry, applies and deletes wait (then answer 503).
    pub fn new(config: ApiConfig, deps: ApiDeps) -> Self {
        let secrets = SecretStore::new(deps.bus.clone(), deps.master_key);
        Self {
            state: Arc::new(AppState {
                store: deps.store,
                bus: deps.bus,
                secrets,
                with_checks: deps.checks,
                config,
                synced: watch::channel(false).0,
            }),
        }
    }

    /// Make the workflow registry equal to the database (retrying with backoff while the bus or
    /// the database is down), then serve until `shutdown`. Nothing here ends on its own.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), ApiError> {
        let mut backoff = std::time::Duration::from_millis(200);
        while !shutdown.is_triggered() {
            match self.sync_registry().await {
                Ok(()) => {
                    self.state.synced.send_replace(true);
                    break;
                }
                Err(e) => tracing::warn!(error = %e, retry_in = ?backoff,
                    "cannot sync the workflow registry yet"),
            }
            tokio::select! {
                _ = shutdown.wait() => {}
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
        }
        shutdown.wait().await;
        Ok(())
    }

    /// Readiness probe: the registry has been synced since start.
    pub fn readiness(&self) -> Readiness {
        let state = self.state.clone();
        Readiness::default().with("workflow registry", move || {
            let synced = *state.synced.borrow();
            async move {
                match synced {
                    true => Ok(()),
                    false => Err("not yet in sync with the database".to_string()),
                }
            }
        })
    }

    /// Every route under `/api/v1`, state included; merge it with other routers.
    pub fn router(&self) -> Router {
        let wf = "/api/v1/workflows/{name}";
        let ex = "/api/v1/executions/{id}";
        Router::new()
            .route("/api/v1/workflows", get(workflows::list))
            .route(
                wf,
                put(workflows::apply)
                    .get(workflows::get)
                    .delete(workflows::delete),
            )
            .route(&format!("{wf}/versions"), get(workflows::versions))
            .route(&format!("{wf}/run"), post(runs::run))
            .route("/api/v1/executions", get(executions::list))
            .route(ex, get(executions::get))
            .route(&format!("{ex}/cancel"), post(executions::cancel))
            .route(&format!("{ex}/history"), get(history::history))
            .route(&format!("{ex}/events"), get(live::events))
            .route(
                &format!("{ex}/steps/{{step}}/approve"),
                post(approvals::approve),
            )
            .route(
                &format!("{ex}/steps/{{step}}/reject"),
                post(approvals::reject),
            )
            .route(&format!("{ex}/retry"), post(retry::retry))
            .route(&format!("{ex}/rerun"), post(rerun::rerun))
            .route(&format!("{ex}/steps/{{step}}/items"), get(items::list))
            .route("/api/v1/events/{id}/replay", post(event_replay::replay))
            .route("/api/v1/secrets", get(secrets::list))
            .route(
                "/api/v1/secrets/{name}",
                put(secrets::put).delete(secrets::delete),
            )
            .route("/api/v1/triggers", get(triggers::list))
            .route("/api/v1/agents", get(agents::list))
            .route("/api/v1/agents/{name}", get(agents::get))
            .route("/api/v1/dead-letters", get(dead_letters::list))
            .route("/api/v1/dead-letters/{id}", get(dead_letters::get))
            .route(
                "/api/v1/dead-letters/{id}/replay",
                post(dead_letters::replay),
            )
            .route("/api/v1/openapi.json", get(openapi::document))
            // Per route, so the result still merges with routers that have a fallback.
            .method_not_allowed_fallback(method_not_allowed)
            .route_layer(middleware::from_fn(count_requests))
            .with_state(self.state.clone())
    }

    /// Make the `weft_workflows` bucket equal to the database: put every live workflow at its
    /// current version and delete the keys of workflows that are not live. [`ApiService::run`]
    /// calls it at start.
    pub async fn sync_registry(&self) -> Result<(), ApiError> {
        registry::sync(&self.state.store, &self.state.bus).await
    }
}

/// A known path with an unknown method: the same JSON error shape as everything else.
async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Count each request by matched route, method and status.
async fn count_requests(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    metrics::counter!(
        "weft_api_requests_total",
        "route" => route,
        "method" => method,
        "status" => response.status().as_u16().to_string(),
    )
    .increment(1);
    response
}
