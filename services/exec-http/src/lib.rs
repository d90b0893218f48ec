//! The HTTP executor: runs `uses: http` steps as a [`weft_executor::Agent`].
//!
//! Consumes `dev.weft.task` events from `weft.tasks.http` (durable consumer `exec-http`, shared by
//! replicas, through [`weft_executor::ExecutorService`]); produces `dev.weft.task.result` events
//! on `weft.results.http`. Touches whatever URLs the steps name.

mod config;
pub mod executor;
pub mod request;
pub mod response;

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
