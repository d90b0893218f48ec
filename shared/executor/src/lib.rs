//! The executor platform: what every agent (http, email, code, transform, … and executors
//! written outside the repository, in any language — see `docs/executors.md`) runs on.
//!
//! - [`Agent`]: the contract — a `uses:` name, a typed `With` and `Output` whose JSON Schemas
//!   are published, and `execute(with, cx)`.
//! - [`Context`]: one attempt's cancellation, deadline, bounded log and artifact store.
//! - [`ExecutorService`]: runs an agent on the shared consume loop — secrets resolved at the
//!   last moment and masked in what comes back, large outputs moved to the artifact store,
//!   heartbeats, cancels, results that always fit on the bus — and announces it in the
//!   [`registry`].
//! - [`Locals`]: the agents hosted in this process, which a router beside them runs without
//!   the bus.
//!
//! Consumes `weft.tasks.<agent>` and `weft.cancel.<agent>`; produces `weft.results.<agent>`;
//! touches the `weft_agents` key-value bucket and the `weft_artifacts` object store.

mod agent;
mod artifacts;
mod context;
mod local;
pub mod redact;
pub mod registry;
mod resolve;
mod runner;
mod service;

pub use agent::{Agent, Hosted, agent_document, check_agent_document, config_section, schemas};
pub use artifacts::{Artifacts, ObjectBackend, ObjectFuture};
pub use context::{Attempt, Context, LogLimits, StopReason};
pub use local::{Claim, Locals};
pub use resolve::{NoSecrets, ResolveInputs, Resolved};
pub use runner::{RunnerSettings, decode_task, execute_task};
pub use service::{ExecutorConfig, ExecutorDeps, ExecutorError, ExecutorService, announcement};
pub use weft_events::{ArtifactRef, ErrorCode, StepError};
