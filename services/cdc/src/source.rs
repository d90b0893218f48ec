//! [`CdcSource`]: the `on.cdc` kind for the shared trigger runtime.
//!
//! Consumes one resolved `on.cdc` config per trigger instance; produces row-change events by
//! running a [`Stream`] until shutdown; touches what the stream touches (source database, bus).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use weft_flow::triggers::CdcTrigger;
use weft_trigger::{Source, TriggerCtx, TriggerError};

use crate::config::shown_dsn;
use crate::stream::Stream;

/// The CDC trigger source.
#[derive(Debug, Clone, Default)]
pub struct CdcSource {
    hooks: Hooks,
}

impl CdcSource {
    /// A source with no test hooks.
    pub fn new() -> Self {
        Self::default()
    }

    /// For crash tests: the next `times` transactions are published but, instead of
    /// advancing the slot, the run fails as if the process had died at that instant.
    pub fn fail_before_advance(self, times: usize) -> Self {
        self.hooks
            .fail_before_advance
            .store(times, Ordering::SeqCst);
        self
    }

    /// How many of the failures asked for by [`CdcSource::fail_before_advance`] are still to
    /// come (shared by clones).
    pub fn pending_failures(&self) -> usize {
        self.hooks.fail_before_advance.load(Ordering::SeqCst)
    }
}

/// Fault injection points (all off by default).
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    fail_before_advance: Arc<AtomicUsize>,
}

impl Hooks {
    /// Err while a `fail_before_advance` is pending (consuming one).
    pub(crate) fn before_advance(&self) -> Result<(), TriggerError> {
        let pending =
            self.fail_before_advance
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        match pending {
            Ok(_) => Err(TriggerError::Source(
                "test hook: stopped after publishing, before advancing the slot".into(),
            )),
            Err(_) => Ok(()),
        }
    }
}

impl Source for CdcSource {
    const KIND: &'static str = "cdc";
    type Config = CdcTrigger;

    fn configs(on: &weft_flow::Triggers) -> &[CdcTrigger] {
        on.cdc.as_slice()
    }

    fn scope(config: &CdcTrigger) -> String {
        let slot = config.slot.as_deref().unwrap_or("default-slot");
        format!("{}#{slot}", shown_dsn(&config.dsn))
    }

    async fn run(&self, ctx: TriggerCtx<CdcTrigger>) -> Result<(), TriggerError> {
        let shutdown = ctx.shutdown.clone();
        let mut stream = tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            opened = Stream::open(&ctx) => opened?,
        };
        loop {
            let busy = tokio::select! {
                _ = shutdown.wait() => return Ok(()),
                step = stream.step(&ctx, &self.hooks) => step?,
            };
            if !busy {
                tokio::select! {
                    _ = shutdown.wait() => return Ok(()),
                    () = tokio::time::sleep(ctx.config.poll_interval) => {}
                }
            }
        }
    }
}
