//! `RouterService::new(config, store, bus)` + `run(shutdown)`: the event and result consumers,
//! the timer loop and the outbox sweeper, side by side until shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use weft_bus::{Bus, ConsumerSpec, consume, consume_batches, kv::Snapshot};
use weft_events::subjects;
use weft_flow::Published;
use weft_runtime::Shutdown;
use weft_store::Store;

use crate::{
    RouterConfig, definitions::Definitions, events::EventHandler, loops, results::ResultHandler,
};

/// What every handler of one router process shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Store,
    pub bus: Bus,
    pub defs: Definitions,
}

/// The router service.
#[derive(Debug)]
pub struct RouterService {
    config: RouterConfig,
    shared: Arc<Shared>,
}

impl RouterService {
    /// A router over `store` and `bus`.
    pub fn new(config: RouterConfig, store: Store, bus: Bus) -> Self {
        let shared = Arc::new(Shared {
            store,
            bus,
            defs: Definitions::default(),
        });
        Self { config, shared }
    }

    /// Run until `shutdown`; in-flight messages finish first.
    pub async fn run(self, shutdown: Shutdown) {
        crate::cancel::set_max_payload(self.shared.bus.max_payload());
        let workflows: watch::Receiver<Option<Snapshot<Published>>> = weft_bus::kv::watch_map(
            self.shared.bus.clone(),
            subjects::WORKFLOWS_BUCKET,
            shutdown.clone(),
        );
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
        let bus = self.shared.bus.clone();
        tokio::join!(
            consume(
                bus.clone(),
                events,
                Arc::new(EventHandler::new(self.shared.clone(), workflows)),
                shutdown.clone()
            ),
            consume_batches(
                bus,
                results,
                Arc::new(ResultHandler::new(self.shared.clone())),
                shutdown.clone()
            ),
            loops::timers(
                self.shared.clone(),
                Duration::from_millis(self.config.timer_poll_ms),
                shutdown.clone()
            ),
            loops::sweeper(
                self.shared.clone(),
                Duration::from_millis(self.config.sweep_interval_ms),
                Duration::from_millis(self.config.sweep_grace_ms),
                shutdown,
            ),
        );
    }
}
