//! The admin API: workflows (apply, list, get, versions, delete, run) and executions (list,
//! get, cancel, retry), secrets (put, list, delete), trigger health and agents under `/api/v1`, with its OpenAPI document at `/api/v1/openapi.json`.
//!
//! Consumes HTTP requests; reads and writes workflow definitions and executions in PostgreSQL
//! through `weft_store`; produces the `weft_workflows` key-value bucket (the active workflows
//! that triggers and routers watch) and `dev.weft.manual.requested` events on
//! `weft.events.manual` (through the transactional outbox). Counts requests by route and
//! status in `weft_api_requests_total`.
//!
//! ```ignore
//! let api = ApiService::new(store, bus, master_key);
//! api.sync_registry().await?;
//! let app = api.router().merge(weft_runtime::health_router(readiness));
//! ```

mod agents;
mod digest;
mod error;
mod executions;
mod extract;
mod openapi;
mod params;
mod registry;
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
use weft_bus::Bus;
use weft_secrets::{MasterKey, SecretStore};
use weft_store::Store;

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
}

/// The admin API service.
#[derive(Debug, Clone)]
pub struct ApiService {
    state: Arc<AppState>,
}

impl ApiService {
    /// Build the service over a store and a bus. Secrets are sealed under `master_key`; without
    /// one, storing a secret answers 503 saying so.
    pub fn new(store: Store, bus: Bus, master_key: Option<Arc<MasterKey>>) -> Self {
        let secrets = SecretStore::new(bus.clone(), master_key);
        Self {
            state: Arc::new(AppState {
                store,
                bus,
                secrets,
                with_checks: Vec::new(),
            }),
        }
    }

    /// Also run these agents' own checks of a literal `with` when a workflow is applied (the
    /// host passes those of the executors it links, e.g. that a jq program compiles).
    pub fn with_checks(
        mut self,
        checks: impl IntoIterator<Item = (String, weft_flow::WithCheck)>,
    ) -> Self {
        if let Some(state) = Arc::get_mut(&mut self.state) {
            state.with_checks.extend(checks);
        }
        self
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
            .route(&format!("{ex}/retry"), post(retry::retry))
            .route("/api/v1/secrets", get(secrets::list))
            .route(
                "/api/v1/secrets/{name}",
                put(secrets::put).delete(secrets::delete),
            )
            .route("/api/v1/triggers", get(triggers::list))
            .route("/api/v1/agents", get(agents::list))
            .route("/api/v1/agents/{name}", get(agents::get))
            .route("/api/v1/openapi.json", get(openapi::document))
            // Per route, so the result still merges with routers that have a fallback.
            .method_not_allowed_fallback(method_not_allowed)
            .route_layer(middleware::from_fn(count_requests))
            .with_state(self.state.clone())
    }

    /// Make the `weft_workflows` bucket equal to the database: put every live workflow at its
    /// current version and delete the keys of workflows that are not live. Call it at start.
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
