//! The webhook trigger: `POST /hooks/{path}` becomes a CloudEvent on the bus.
//!
//! Consumes HTTP requests and the `weft_workflows` key-value bucket (the route table: a path
//! exists while a published workflow has `on.webhook` with it); produces
//! `dev.weft.webhook.received` events on `weft.events.webhook`, each stored by JetStream before
//! the 202 answer. Touches NATS only.
//!
//! ```text
//! let service = WebhookService::new(config, bus, shutdown);
//! let app = service.router(); // mount beside the health routes
//! ```

mod config;
mod error;
pub mod handler;
pub mod payload;
pub mod registry;

use std::sync::Arc;

use axum::{Router, routing::post};
use weft_bus::Bus;
use weft_runtime::{Readiness, Shutdown};

pub use config::WebhookConfig;
pub use error::HookError;
pub use registry::{Lookup, Registry};

use handler::HookState;

/// The webhook trigger service.
#[derive(Debug, Clone)]
pub struct WebhookService {
    state: Arc<HookState>,
}

impl WebhookService {
    /// Start watching the workflows bucket (until `shutdown`) and get ready to serve.
    /// Must be called inside a Tokio runtime.
    pub fn new(config: WebhookConfig, bus: Bus, shutdown: Shutdown) -> Self {
        let registry = Registry::watch(bus.clone(), shutdown);
        Self {
            state: Arc::new(HookState {
                config,
                bus,
                registry,
            }),
        }
    }

    /// The routes: `POST /hooks/{*path}`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/hooks/{*path}", post(handler::receive))
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
