//! The webhook trigger: `POST /hooks/{path}` becomes a CloudEvent on the bus.
//!
//! Consumes HTTP requests and the `weft_workflows` key-value bucket (the route table: a path
//! exists while a published workflow has `on.webhook` with it); produces
//! `dev.weft.webhook.received` events on `weft.events.webhook`, each stored by JetStream before
//! the 202 answer (signed webhooks: [`auth`]; synchronous answers: [`respond`], [`waiter`]).
//! `POST /events` ([`events`]) takes CloudEvents from outside onto `weft.events.external`.
//! Touches NATS only.
//!
//! ```text
//! let service = WebhookService::new(config, WebhookDeps { bus, secrets });
//! let app = service.router(); // mount beside the health routes
//! tokio::spawn(service.run(shutdown)); // the route table and the lifecycle subscription
//! ```

pub mod auth;
mod config;
mod error;
pub mod events;
pub mod handler;
pub mod incoming;
pub mod payload;
pub mod registry;
pub mod respond;
#[cfg(test)]
mod test_support;
pub mod waiter;

use std::sync::Arc;

use axum::{Router, routing::post};
use weft_bus::Bus;
use weft_runtime::{Parts, Readiness, Shutdown};

pub use config::WebhookConfig;
pub use error::HookError;
pub use registry::{Lookup, Registry, Route};

use handler::HookState;
use waiter::Waiters;

/// What the webhook service needs besides its settings.
#[derive(Debug, Clone)]
pub struct WebhookDeps {
    /// Where events go; the workflows bucket and the lifecycle events come from it.
    pub bus: Bus,
    /// Resolves `${{ secrets.NAME }}` in `on.webhook.auth` (with
    /// [`weft_secrets::Secrets::none`], a referenced secret is missing and such requests are
    /// refused with 401).
    pub secrets: weft_secrets::Secrets,
}

/// Why the webhook service stopped before shutdown.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The workflows watch or the lifecycle subscription ended on its own.
    #[error("the webhook service stopped: {0}")]
    Stopped(#[from] weft_runtime::Stopped),
}

/// The webhook trigger service. Clones share the route table and the waiting requests, so a
/// clone can be run again after a failure while the routes keep serving.
#[derive(Debug, Clone)]
pub struct WebhookService {
    state: Arc<HookState>,
}

impl WebhookService {
    /// A service with these settings over `deps`. Starts nothing: until [`WebhookService::run`]
    /// has read the workflows bucket, every path answers 503.
    pub fn new(config: WebhookConfig, deps: WebhookDeps) -> Self {
        Self {
            state: Arc::new(HookState {
                config,
                bus: deps.bus,
                registry: Registry::new(),
                waiters: Waiters::new(),
                secrets: deps.secrets,
            }),
        }
    }

    /// Keep the route table current and listen for the executions `respond: wait` requests
    /// wait for, until `shutdown`. `Err` when either ended on its own before shutdown.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), WebhookError> {
        let mut parts = Parts::new(&shutdown);
        let bus = self.state.bus.clone();
        let routes = self
            .state
            .registry
            .clone()
            .watch(bus.clone(), parts.signal());
        parts.add("workflows watch", routes);
        let waiters = self.state.waiters.clone().listen(bus, parts.signal());
        parts.add("lifecycle subscription", waiters);
        Ok(parts.run().await?)
    }

    /// The routes: `POST /hooks/{*path}` and `POST /events`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/hooks/{*path}", post(handler::receive))
            .route("/events", post(events::receive))
            .with_state(self.state.clone())
    }

    /// Readiness probe: the bus answers.
    pub fn readiness(&self) -> Readiness {
        let bus = self.state.bus.clone();
        Readiness::default().with("bus", move || {
            let bus = bus.clone();
            async move { bus.check().await }
        })
    }

    /// The live route table.
    pub fn registry(&self) -> &Registry {
        &self.state.registry
    }
}
