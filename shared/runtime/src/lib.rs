//! Service plumbing shared by every Weft service: configuration loading, logging and metrics,
//! the `/healthz` `/readyz` `/metrics` routes, graceful shutdown and the HTTP listener.
//!
//! Consumes environment variables and an optional TOML file; produces a tracing subscriber,
//! a process-wide Prometheus recorder and axum routers. Touches the network only to listen.

pub mod config;
pub mod health;
pub mod http;
pub mod parts;
pub mod shutdown;
pub mod telemetry;

pub use config::{
    CommonConfig, ConfigError, OnFailure, Redacted, load, load_section, load_section_over,
};
pub use health::{Gate, Readiness, ReadyCheck, health_router};
pub use parts::{Parts, Stopped};
pub use shutdown::Shutdown;

/// Install rustls' ring provider as the process default (async-nats, sqlx and reqwest share it).
/// Safe to call more than once.
pub fn init_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
