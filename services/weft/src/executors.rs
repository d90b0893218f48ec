//! The executors this binary hosts. Adding an agent is its crate in the workspace and one line
//! in [`EXECUTORS`]; `weft serve exec-<agent>`, `weft dev`, compose and the k8s manifests follow
//! from this list (a test fails when the manifests drift from it). Heavy executors sit behind
//! cargo features of this crate (default: all on), so a slim build is possible.
//!
//! Each executor runs as a [`weft_executor::ExecutorService`]: settings shared by every executor
//! from the TOML section `[executors]` (`WEFT_EXECUTORS_…`), the agent's own from
//! `[exec_<agent>]` (`WEFT_EXEC_<AGENT>_…`); `/readyz` includes the agent's own check.

use std::{future::Future, pin::Pin, sync::Arc};

use weft_executor::{
    Artifacts, ExecutorConfig, ExecutorDeps, ExecutorService, Hosted, ResolveInputs,
};
use weft_runtime::{ConfigError, Readiness, Shutdown};

/// One hostable executor.
#[derive(Clone, Copy)]
pub struct Executor {
    /// The agent (`uses:`).
    pub agent: &'static str,
    /// Its checks of a literal `with` at apply time, beyond the schema.
    pub check_with: weft_flow::WithCheck,
    start: StartFn,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("agent", &self.agent)
            .finish()
    }
}

impl PartialEq for Executor {
    fn eq(&self, other: &Self) -> bool {
        self.agent == other.agent
    }
}

impl Eq for Executor {}

/// Every executor this build hosts.
pub const EXECUTORS: &[Executor] = &[
    Executor::of::<weft_exec_http::HttpExecutor>(),
    #[cfg(feature = "exec-email")]
    Executor::of::<weft_exec_email::EmailAgent>(),
    #[cfg(feature = "exec-code")]
    Executor::of::<weft_exec_code::CodeAgent>(),
    #[cfg(feature = "exec-transform")]
    Executor::of::<weft_exec_transform::TransformAgent>(),
];

/// What a started executor leaves with the host.
pub struct Started {
    /// Runs until shutdown; `Err` when the service failed.
    pub run: Pin<Box<dyn Future<Output = Result<(), String>> + Send>>,
    /// Adds the agent's readiness check.
    pub readiness: Box<dyn FnOnce(Readiness) -> Readiness + Send>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Started")
    }
}

/// What every executor of a process gets from the host.
#[derive(Clone)]
pub struct ExecHost {
    /// The bus.
    pub bus: weft_bus::Bus,
    /// Resolves secret references.
    pub inputs: Arc<dyn ResolveInputs>,
    /// The artifact store.
    pub artifacts: Artifacts,
    /// Where the executors register, for a router in the same process.
    pub locals: weft_executor::Locals,
    /// `[executors]`.
    pub config: ExecutorConfig,
}

impl std::fmt::Debug for ExecHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecHost")
            .field("artifacts", &self.artifacts)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Why an executor could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its settings do not load.
    #[error("exec-{agent}: {source}")]
    Config {
        /// The agent.
        agent: &'static str,
        /// Why.
        source: ConfigError,
    },
    /// It cannot be built (e.g. its sandbox is missing).
    #[error("exec-{agent}: {message}")]
    Build {
        /// The agent.
        agent: &'static str,
        /// Why.
        message: String,
    },
}

type StartFn = fn(&ExecHost, Shutdown) -> Result<Started, StartError>;

impl Executor {
    /// The entry of agent `A`.
    pub const fn of<A: Hosted>() -> Self {
        Self {
            agent: A::NAME,
            check_with: A::check_with,
            start: start::<A>,
        }
    }

    /// The service name: `exec-<agent>`.
    pub fn service_name(&self) -> String {
        format!("exec-{}", self.agent)
    }

    /// Build the agent from its settings and start its service (call from async code).
    pub fn start(&self, host: &ExecHost, shutdown: Shutdown) -> Result<Started, StartError> {
        (self.start)(host, shutdown)
    }

    /// The executor named `exec-<agent>`, if this build hosts it.
    pub fn by_service_name(name: &str) -> Option<&'static Executor> {
        let agent = name.strip_prefix("exec-")?;
        EXECUTORS.iter().find(|e| e.agent == agent)
    }
}

fn start<A: Hosted>(host: &ExecHost, shutdown: Shutdown) -> Result<Started, StartError> {
    let section = weft_executor::config_section::<A>();
    let config: A::Config =
        weft_runtime::load_section(&section).map_err(|source| StartError::Config {
            agent: A::NAME,
            source,
        })?;
    let agent = A::build(config).map_err(|message| StartError::Build {
        agent: A::NAME,
        message,
    })?;
    let deps = ExecutorDeps {
        bus: host.bus.clone(),
        inputs: host.inputs.clone(),
        artifacts: host.artifacts.clone(),
        locals: host.locals.clone(),
    };
    let service = ExecutorService::new(agent, host.config.clone(), deps);
    let health = service.health();
    let name = format!("exec-{}", A::NAME);
    Ok(Started {
        run: Box::pin(async move { service.run(shutdown).await.map_err(|e| e.to_string()) }),
        readiness: Box::new(move |r: Readiness| {
            r.with(&name, move || {
                let latest = health.borrow().clone();
                async move { latest }
            })
        }),
    })
}
