//! `RouterService::new(config, deps)` + `run(shutdown)`: the workflows watch, the event and
//! result consumers, the results of tasks run in this process, the timer loop, the delayed publisher (rate-limited tasks), the default
//! limit sweep, the outbox sweeper and the sweeper of events kept for waits, side by side
//! until shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use weft_bus::{Bus, ConsumerSpec, consume, consume_batches, kv::Snapshot};
use weft_events::subjects;
use weft_flow::Published;
use weft_runtime::{Parts, Shutdown};
use weft_store::Store;

use crate::{
    RouterConfig, RouterError, calls::CallHandler, commands::CommandHandler,
    definitions::Definitions, events::EventHandler, loops, results::ResultHandler,
};

/// What every handler of one router process shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Store,
    pub bus: Bus,
    pub defs: Definitions,
    /// The default limits runs start with, and as stored.
    pub defaults: weft_engine::Defaults,
    pub defaults_json: Option<serde_json::Value>,
    /// Where `foreach` outputs over [`weft_engine::MAX_INLINE_OUTPUT`] are stored.
    pub artifacts: weft_executor::Artifacts,
    /// Tasks run in this process.
    pub local: crate::local::Local,
}

impl Shared {
    /// The start of a run, with the default limits.
    pub fn start(&self) -> weft_engine::Input {
        self.start_keeping(Vec::new())
    }

    /// The start of a rerun that keeps these steps of the run it reruns.
    pub fn start_keeping(&self, kept: Vec<weft_engine::Kept>) -> weft_engine::Input {
        weft_engine::Input::Start {
            defaults: self.defaults,
            kept,
        }
    }
}

/// What a router needs besides its settings.
#[derive(Debug, Clone)]
pub struct RouterDeps {
    /// Executions, steps, attempts, timers and the outbox.
    pub store: Store,
    /// Events in; tasks, lifecycle events and cancels out.
    pub bus: Bus,
    /// The artifact store the executors use: large `foreach` outputs go there.
    pub artifacts: weft_executor::Artifacts,
    /// The executors running in this process: their tasks run here, without the bus (see
    /// `local_tasks`). Empty when none does.
    pub locals: weft_executor::Locals,
}

/// The router service.
#[derive(Debug)]
pub struct RouterService {
    config: RouterConfig,
    shared: Arc<Shared>,
    local_results: crate::local::Results,
}

impl RouterService {
    /// A router with these settings over `deps`. Starts nothing.
    pub fn new(config: RouterConfig, deps: RouterDeps) -> Self {
        let defaults = config.defaults();
        let (local, local_results) = crate::local::Local::new(
            config.local_tasks.then_some(deps.locals),
            Duration::from_millis(config.local_lease_ms.max(1)),
            deps.store.clone(),
        );
        let shared = Arc::new(Shared {
            local,
            store: deps.store,
            bus: deps.bus,
            artifacts: deps.artifacts,
            defs: Definitions::default(),
            defaults,
            defaults_json: (!defaults.is_none())
                .then(|| serde_json::to_value(defaults).unwrap_or_default()),
        });
        Self {
            config,
            shared,
            local_results,
        }
    }

    /// Run until `shutdown`; in-flight messages finish first. `Err` when a part of it ended
    /// on its own before shutdown (the others are stopped first).
    pub async fn run(self, shutdown: Shutdown) -> Result<(), RouterError> {
        crate::cancel::set_max_payload(self.shared.bus.max_payload());
        let mut parts = Parts::new(&shutdown);
        let stop = parts.signal();
        let (snapshots, workflows) = watch::channel::<Option<Snapshot<Published>>>(None);
        let bus = self.shared.bus.clone();
        let watch = weft_bus::kv::follow_map(
            bus.clone(),
            subjects::WORKFLOWS_BUCKET.to_string(),
            snapshots,
            stop.clone(),
        );
        parts.add("workflows watch", watch);
        let (events, results) = self.specs();
        let handler = Arc::new(EventHandler::new(self.shared.clone(), workflows));
        parts.add(
            "event consumer",
            consume(bus.clone(), events, handler, stop.clone()),
        );
        let handler = Arc::new(ResultHandler::new(self.shared.clone()));
        parts.add(
            "result consumer",
            consume_batches(bus, results, handler, stop.clone()),
        );
        let appliers = self.appliers();
        parts.add(
            "local results",
            crate::local::apply_loop(
                self.shared.clone(),
                self.local_results,
                appliers,
                stop.clone(),
            ),
        );
        let mut calls = ConsumerSpec::new(
            subjects::TASKS_STREAM,
            subjects::ROUTER_CALLS_CONSUMER,
            &subjects::task_subject(weft_flow::CALL_AGENT),
        );
        calls.ack_wait = Duration::from_millis(self.config.ack_wait_ms);
        let handler = Arc::new(CallHandler::new(self.shared.clone()));
        parts.add(
            "call consumer",
            consume(self.shared.bus.clone(), calls, handler, stop.clone()),
        );
        let mut commands = ConsumerSpec::new(
            subjects::COMMANDS_STREAM,
            subjects::ROUTER_COMMANDS_CONSUMER,
            subjects::COMMANDS_ALL,
        );
        commands.ack_wait = Duration::from_millis(self.config.ack_wait_ms);
        let handler = Arc::new(CommandHandler::new(self.shared.clone()));
        parts.add(
            "command consumer",
            consume(self.shared.bus.clone(), commands, handler, stop.clone()),
        );
        let poll = Duration::from_millis(self.config.timer_poll_ms);
        parts.add(
            "timer loop",
            loops::timers(self.shared.clone(), poll, stop.clone()),
        );
        parts.add(
            "delayed publisher",
            loops::delayed(self.shared.clone(), poll, stop.clone()),
        );
        let every = Duration::from_millis(self.config.limit_sweep_ms);
        parts.add(
            "limit sweep",
            loops::limits(self.shared.clone(), every, stop.clone()),
        );
        parts.add(
            "wait events sweeper",
            crate::waits::forget(self.shared.clone(), stop.clone()),
        );
        let every = Duration::from_millis(self.config.sweep_interval_ms);
        let grace = Duration::from_millis(self.config.sweep_grace_ms);
        parts.add(
            "outbox sweeper",
            loops::sweeper(self.shared.clone(), every, grace, stop),
        );
        Ok(parts.run().await?)
    }

    /// Local results are applied like the result consumer's: as many results at once, in
    /// batches of the same size.
    fn appliers(&self) -> crate::local::Appliers {
        crate::local::Appliers {
            concurrency: self.config.result_concurrency,
            max_batch: self.config.result_batch,
        }
    }

    /// The event and result consumers' settings.
    fn specs(&self) -> (ConsumerSpec, ConsumerSpec) {
        let ack_wait = Duration::from_millis(self.config.ack_wait_ms);
        let mut events = ConsumerSpec::new(
            subjects::EVENTS_STREAM,
            subjects::ROUTER_EVENTS_CONSUMER,
            subjects::EVENTS_ALL,
        );
        events.concurrency = self.config.event_concurrency;
        events.ack_wait = ack_wait;
        let mut results = ConsumerSpec::new(
            subjects::RESULTS_STREAM,
            subjects::ROUTER_RESULTS_CONSUMER,
            subjects::RESULTS_ALL,
        );
        results.concurrency = self.config.result_concurrency;
        results.max_batch = self.config.result_batch;
        results.ack_wait = ack_wait;
        (events, results)
    }
}
