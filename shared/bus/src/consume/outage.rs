//! Whether a consumer's dependency is down, as its handlers last saw it: set by a handler's
//! [`super::Disposition::Unavailable`], cleared when a held message goes through. The reader
//! pulls nothing while it is set; held messages wake up when it clears.
//!
//! Touches nothing but its own state, the log (one line per change) and the gauge
//! `weft_bus_held_messages{consumer}`.

use tokio::sync::watch;

/// One consumer's view of its dependencies.
#[derive(Debug)]
pub(super) struct Outage {
    consumer: String,
    down: watch::Sender<bool>,
}

impl Outage {
    pub(super) fn new(consumer: &str) -> Self {
        Self {
            consumer: consumer.to_string(),
            down: watch::Sender::new(false),
        }
    }

    pub(super) fn is_down(&self) -> bool {
        *self.down.borrow()
    }

    /// A handler found a dependency unavailable.
    pub(super) fn begin(&self, reason: &str) {
        if !self.down.send_replace(true) {
            tracing::warn!(consumer = %self.consumer, %reason,
                "a dependency is unavailable: pulling nothing new, holding what is in hand until it is back");
        }
    }

    /// A held message went through: the dependency is back.
    pub(super) fn end(&self) {
        if self.down.send_replace(false) {
            tracing::info!(consumer = %self.consumer, "the dependency is back: pulling again");
        }
    }

    /// Until the dependency is back (at once if it is).
    pub(super) async fn wait_up(&self) {
        let _ = self.down.subscribe().wait_for(|down| !*down).await;
    }

    /// Until a handler finds a dependency unavailable (at once if one is).
    pub(super) async fn wait_down(&self) {
        let _ = self.down.subscribe().wait_for(|down| *down).await;
    }

    /// Count `n` held messages in the gauge until the guard drops.
    pub(super) fn holding(&self, n: usize) -> Holding {
        let gauge = metrics::gauge!("weft_bus_held_messages", "consumer" => self.consumer.clone());
        gauge.increment(n as f64);
        Holding { gauge, n }
    }
}

/// Held messages, counted in `weft_bus_held_messages` while it lives.
pub(super) struct Holding {
    gauge: metrics::Gauge,
    n: usize,
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.gauge.decrement(self.n as f64);
    }
}
