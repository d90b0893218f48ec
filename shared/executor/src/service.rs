//! [`ExecutorService`]: one agent, run as a service — `new(agent, config, deps)` and
//! `run(self, shutdown)`.
//!
//! Consumes `weft.tasks.<agent>` (durable consumer `exec-<agent>`, shared by every replica) and
//! core-NATS cancels on `weft.cancel.<agent>`; produces results and heartbeats on
//! `weft.results.<agent>`; announces the agent in the registry every
//! [`crate::registry::ANNOUNCE_EVERY`] and withdraws it on a clean stop.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use weft_bus::{Bus, BusError, ConsumerSpec};
use weft_events::{Cancel, subjects};
use weft_runtime::Shutdown;

use crate::{
    Agent, Artifacts, Locals, ResolveInputs, StopReason,
    context::LogLimits,
    registry::{self, Announcement},
    runner::{InFlight, RunnerSettings, TaskHandler},
};

/// Settings every executor in a process shares: TOML section `[executors]`, variables
/// `WEFT_EXECUTORS_…`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutorConfig {
    /// Attempts of one agent run at once by this process. Default 64.
    pub concurrency: usize,
    /// How long a task may go unacknowledged before JetStream redelivers it (to another
    /// replica, when this one died), in milliseconds. Progress is reported while an attempt
    /// runs, so this bounds recovery time, not step length. Default 30000.
    pub ack_wait_ms: u64,
    /// Largest output kept inline in a result, in bytes of JSON; a larger one is stored in the
    /// artifact store and the step's output is its reference. Default 262144 (256 KiB).
    pub max_output_bytes: usize,
    /// Most log lines kept per attempt; more are counted and dropped. Default 500.
    pub max_log_lines: usize,
    /// Most log bytes kept per attempt. Default 65536.
    pub max_log_bytes: usize,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        let log = LogLimits::default();
        Self {
            concurrency: 64,
            ack_wait_ms: 30_000,
            max_output_bytes: RunnerSettings::default().max_output_bytes,
            max_log_lines: log.max_lines,
            max_log_bytes: log.max_bytes,
        }
    }
}

/// What an executor service needs from its host.
#[derive(Clone)]
pub struct ExecutorDeps {
    /// The bus.
    pub bus: Bus,
    /// Resolves secret references.
    pub inputs: Arc<dyn ResolveInputs>,
    /// The artifact store.
    pub artifacts: Artifacts,
    /// Where the agent is registered while the service runs, for a router in the same
    /// process to run its tasks without the bus (an empty table nobody reads: none).
    pub locals: Locals,
}

impl std::fmt::Debug for ExecutorDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorDeps")
            .field("artifacts", &self.artifacts)
            .finish_non_exhaustive()
    }
}

/// Why an executor service stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The bus failed (registry, cancel subscription).
    #[error("executor {agent}: {source}")]
    Bus {
        /// The agent.
        agent: &'static str,
        /// What failed.
        source: BusError,
    },
}

/// One agent as a service.
pub struct ExecutorService<A: Agent> {
    agent: Arc<A>,
    config: ExecutorConfig,
    deps: ExecutorDeps,
    health: tokio::sync::watch::Sender<Result<(), String>>,
}

impl<A: Agent> std::fmt::Debug for ExecutorService<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorService")
            .field("agent", &A::NAME)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<A: Agent> ExecutorService<A> {
    /// The service for `agent`.
    pub fn new(agent: A, config: ExecutorConfig, deps: ExecutorDeps) -> Self {
        let (health, _) = tokio::sync::watch::channel(Err("not checked yet".to_string()));
        Self {
            agent: Arc::new(agent),
            config,
            deps,
            health,
        }
    }

    /// The agent.
    pub fn agent(&self) -> Arc<A> {
        self.agent.clone()
    }

    /// The result of the agent's latest [`Agent::check`] (run at start and with every
    /// registry announcement), for `/readyz` without running a check per probe.
    pub fn health(&self) -> tokio::sync::watch::Receiver<Result<(), String>> {
        self.health.subscribe()
    }

    /// Run until `shutdown`; attempts in flight finish first.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), ExecutorError> {
        let bus = self.deps.bus.clone();
        let fail = |source| ExecutorError::Bus {
            agent: A::NAME,
            source,
        };
        let registry = registry::bucket(&bus).await.map_err(fail)?;
        let in_flight = InFlight::default();
        let cancels = bus
            .client()
            .subscribe(subjects::cancel_subject(A::NAME))
            .await
            .map_err(|e| fail(BusError::js("subscribing to cancels", e)))?;
        let listener = tokio::spawn(listen_for_cancels(cancels, in_flight.clone()));
        let announcer = tokio::spawn(announce_loop(
            self.agent.clone(),
            registry.clone(),
            self.health.clone(),
            shutdown.clone(),
        ));
        let handler = Arc::new(TaskHandler {
            bus: bus.clone(),
            agent: self.agent.clone(),
            inputs: self.deps.inputs.clone(),
            artifacts: self.deps.artifacts.clone(),
            settings: RunnerSettings {
                max_output_bytes: self.config.max_output_bytes,
                log: LogLimits {
                    max_lines: self.config.max_log_lines,
                    max_bytes: self.config.max_log_bytes,
                    ..LogLimits::default()
                },
                ..RunnerSettings::default()
            },
            in_flight,
            unpublished: Default::default(),
        });
        let concurrency = self.config.concurrency.max(1);
        let registration = self
            .deps
            .locals
            .register(A::NAME, handler.clone(), concurrency);
        tracing::info!(
            agent = A::NAME,
            concurrency = self.config.concurrency,
            "executor running"
        );
        weft_bus::consume(bus, self.spec(), handler, shutdown).await;
        drop(registration);
        listener.abort();
        if let Ok(entry) = announcer.await {
            registry::withdraw(&registry, &entry).await;
        }
        Ok(())
    }

    fn spec(&self) -> ConsumerSpec {
        let mut spec = ConsumerSpec::new(
            subjects::TASKS_STREAM,
            &subjects::executor_consumer(A::NAME),
            &subjects::task_subject(A::NAME),
        );
        spec.concurrency = self.config.concurrency.max(1);
        spec.ack_wait = Duration::from_millis(self.config.ack_wait_ms);
        spec
    }
}

/// This replica's registry entry (schemas generated from the agent's types).
pub fn announcement<A: Agent>(replica: &str) -> Announcement {
    let (input_schema, output_schema) = crate::agent::schemas::<A>();
    let now = Utc::now();
    Announcement {
        name: A::NAME.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: A::DESCRIPTION.into(),
        input_schema,
        output_schema,
        replica: replica.into(),
        host: std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into()),
        started_at: now,
        seen_at: now,
        ready: true,
        reason: None,
    }
}

/// Announce now and every [`registry::ANNOUNCE_EVERY`] until `shutdown`; returns the entry.
async fn announce_loop<A: Agent>(
    agent: Arc<A>,
    store: async_nats::jetstream::kv::Store,
    health: tokio::sync::watch::Sender<Result<(), String>>,
    shutdown: Shutdown,
) -> Announcement {
    let mut entry = announcement::<A>(&uuid::Uuid::now_v7().simple().to_string());
    loop {
        let check = agent.check().await;
        let _ = health.send_replace(check.clone());
        entry.ready = check.is_ok();
        entry.reason = check.err();
        entry.seen_at = Utc::now();
        if let Err(e) = registry::announce(&store, &entry).await {
            tracing::warn!(agent = A::NAME, error = %e, "cannot announce the agent; will retry");
        }
        tokio::select! {
            _ = shutdown.wait() => return entry,
            _ = tokio::time::sleep(registry::ANNOUNCE_EVERY) => {}
        }
    }
}

/// Stop attempts named by cancels on the agent's cancel subject.
async fn listen_for_cancels(mut cancels: async_nats::Subscriber, in_flight: InFlight) {
    while let Some(msg) = cancels.next().await {
        let cancel = weft_events::decode_event(&msg.payload)
            .ok()
            .and_then(|e| weft_events::envelope::data_json(&e).ok())
            .and_then(|d| serde_json::from_value::<Cancel>(d).ok());
        let Some(cancel) = cancel else {
            tracing::debug!("undecodable cancel ignored");
            continue;
        };
        let cx = in_flight
            .lock()
            .ok()
            .and_then(|m| m.get(&cancel.attempt_id).cloned());
        if let Some(cx) = cx {
            cx.log(format!("cancelled: {}", cancel.reason));
            cx.stop(StopReason::Cancelled);
        }
    }
}
