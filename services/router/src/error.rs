//! Router errors.

/// What went wrong while driving an execution.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The database failed; the message is handled again (after the database is back, when it
    /// was unreachable).
    #[error(transparent)]
    Store(#[from] weft_store::StoreError),
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] weft_bus::BusError),
    /// The artifact store failed (storing a large `foreach` output); the message is handled
    /// again once it is back.
    #[error("the artifact store failed: {0}")]
    Artifacts(String),
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

impl RouterError {
    /// Whether this is a dependency being unavailable (the database or the bus down), not
    /// something wrong with what was being handled.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_unavailable(),
            Self::Bus(e) => e.is_unavailable(),
            Self::Artifacts(_) => true,
            Self::Definition { .. } | Self::Internal(_) | Self::Stopped(_) => false,
        }
    }

    /// What the consume loop should do with a message this error stopped: wait out an
    /// unavailable dependency, else deliver it again after `delay` (a bounded number of times).
    pub(crate) fn disposition(&self, delay: std::time::Duration) -> weft_bus::Disposition {
        if self.is_unavailable() {
            weft_bus::Disposition::Unavailable(self.to_string())
        } else {
            weft_bus::Disposition::Retry(delay)
        }
    }
}
