//! Router errors.

/// What went wrong while driving an execution.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The database failed; the message is redelivered and handled again.
    #[error(transparent)]
    Store(#[from] weft_store::StoreError),
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] weft_bus::BusError),
    /// A stored workflow definition no longer decodes.
    #[error("workflow {name} v{version} cannot be loaded: {message}")]
    Definition {
        /// Workflow.
        name: String,
        /// Version.
        version: i32,
        /// Why.
        message: String,
    },
    /// Something that should not happen did (a decision task died).
    #[error("{0}")]
    Internal(String),
    /// A part of the router (a consumer, the timer loop, …) ended before shutdown.
    #[error("the router stopped: {0}")]
    Stopped(#[from] weft_runtime::Stopped),
}
