//! The HTTP executor: runs `uses: http` steps.
//!
//! Consumes `dev.weft.task` events from `weft.tasks.http` (durable consumer `exec-http`, shared by
//! replicas, through `weft_bus::run_executor`); produces `dev.weft.task.result` events on
//! `weft.results.http`. Touches whatever URLs the steps name.

mod config;
pub mod executor;
pub mod request;
pub mod response;

use std::sync::Arc;

use weft_bus::Bus;
use weft_runtime::Shutdown;

pub use config::ExecHttpConfig;
pub use executor::HttpExecutor;
pub use request::HttpWith;

/// The executor cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ExecHttpError {
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Run the executor until `shutdown`; in-flight attempts finish first.
/// `${{ secrets.NAME }}` in a step's `with` is resolved through `inputs` just before the call.
pub async fn run(
    config: ExecHttpConfig,
    bus: Bus,
    inputs: Arc<dyn weft_bus::ResolveInputs>,
    shutdown: Shutdown,
) -> Result<(), ExecHttpError> {
    let executor = HttpExecutor::new(&config)?;
    let mut spec = weft_bus::executor::executor_spec("http", config.concurrency);
    spec.ack_wait = std::time::Duration::from_millis(config.ack_wait_ms);
    tracing::info!(concurrency = spec.concurrency, "http executor running");
    weft_bus::run_executor(bus, Arc::new(executor), spec, inputs, shutdown).await;
    Ok(())
}
