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
//! let service = WebhookService::new(config, bus, shutdown);
//! let app = service.router(); // mount beside the health routes
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
use weft_runtime::{Readiness, Shutdown};

pub use config::WebhookConfig;
pub use error::HookError;
pub use registry::{Lookup, Registry, Route};

use handler::HookState;
use waiter::Waiters;

/// The webhook trigger service.
#[derive(Debug, Clone)]
pub struct WebhookService {
    state: Arc<HookState>,
}

impl WebhookService {
    /// Start watching the workflows bucket (until `shutdown`) and get ready to serve.
    /// Must be called inside a Tokio runtime.
    pub fn new(config: WebhookConfig, bus: Bus, shutdown: Shutdown) -> Self {
        let registry = Registry::watch(bus.clone(), shutdown.clone());
        let waiters = Waiters::start(bus.clone(), shutdown);
        Self {
            state: Arc::new(HookState {
                config,
                bus,
                registry,
                waiters,
                secrets: weft_secrets::Secrets::none(),
            }),
        }
    }

    /// Resolve `${{ secrets.NAME }}` in `on.webhook.auth` from this live view (without it, a
    /// referenced secret is missing and such requests are refused with 401).
    pub fn with_secrets(self, secrets: weft_secrets::Secrets) -> Self {
        let mut state = (*self.state).clone();
        state.secrets = secrets;
        Self {
            state: Arc::new(state),
        }
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
