//! The long-running parts of one service (consumers, watches, loops), run side by side.
//!
//! A service's `run(self, shutdown) -> Result` is usually several loops that should all live
//! until shutdown. [`Parts`] runs them together; when one ends on its own before shutdown, the
//! others are stopped through a child signal (so in-flight work still finishes) and `run`
//! answers [`Stopped`] naming the part, which the host reports (and stops or restarts on).
//! Consumes and produces nothing; touches nothing.
//!
//! ```ignore
//! let mut parts = Parts::new(&shutdown);
//! parts.add("event consumer", consume(bus, spec, handler, parts.signal()));
//! parts.run().await?;
//! ```

use std::{future::Future, pin::Pin};

use tokio::task::JoinSet;

use crate::Shutdown;

/// A part ended while the service was meant to keep running.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("its {part} stopped on its own")]
pub struct Stopped {
    /// Which part (e.g. `event consumer`).
    pub part: &'static str,
}

type Part = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The parts of one service, run together by [`Parts::run`].
pub struct Parts {
    outer: Shutdown,
    inner: Shutdown,
    parts: Vec<(&'static str, Part)>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.parts.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Parts").field("parts", &names).finish()
    }
}

impl Parts {
    /// No parts yet, for a service that stops on `shutdown`.
    pub fn new(shutdown: &Shutdown) -> Self {
        Self {
            outer: shutdown.clone(),
            inner: shutdown.child(),
            parts: Vec::new(),
        }
    }

    /// The signal every part must stop on: `shutdown`, or another part ending.
    pub fn signal(&self) -> Shutdown {
        self.inner.clone()
    }

    /// Add a part; it must return only once [`Parts::signal`] is triggered.
    pub fn add(&mut self, name: &'static str, part: impl Future<Output = ()> + Send + 'static) {
        self.parts.push((name, Box::pin(part)));
    }

    /// Run every part until shutdown. `Err` names the first part that ended before shutdown;
    /// the others were stopped and have finished when it returns. A part that panics counts as
    /// ended.
    pub async fn run(self) -> Result<(), Stopped> {
        let mut set = JoinSet::new();
        for (name, part) in self.parts {
            set.spawn(async move {
                part.await;
                name
            });
        }
        let mut first = None;
        while let Some(ended) = set.join_next().await {
            if self.outer.is_triggered() || first.is_some() {
                continue;
            }
            let part = match ended {
                Ok(name) => name,
                Err(e) => {
                    tracing::error!(error = %e, "a service part panicked");
                    "a part (it panicked)"
                }
            };
            first = Some(Stopped { part });
            self.inner.trigger();
        }
        first.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn all_parts_run_until_shutdown() {
        let shutdown = Shutdown::new();
        let mut parts = Parts::new(&shutdown);
        for name in ["a", "b"] {
            let stop = parts.signal();
            parts.add(name, async move { stop.wait().await });
        }
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            trigger.trigger();
        });
        assert_eq!(parts.run().await, Ok(()));
    }

    #[tokio::test]
    async fn a_part_that_ends_early_stops_the_others_and_is_named() {
        let shutdown = Shutdown::new();
        let mut parts = Parts::new(&shutdown);
        let stop = parts.signal();
        let (tx, rx) = tokio::sync::oneshot::channel();
        parts.add("waiter", async move {
            stop.wait().await;
            let _ = tx.send(());
        });
        parts.add("watch", async {});
        assert_eq!(parts.run().await, Err(Stopped { part: "watch" }));
        assert!(rx.await.is_ok(), "the other part was stopped and finished");
        assert!(!shutdown.is_triggered(), "the outer signal is left alone");
    }

    #[tokio::test]
    async fn a_panicking_part_counts_as_ended() {
        let shutdown = Shutdown::new();
        let mut parts = Parts::new(&shutdown);
        let stop = parts.signal();
        parts.add("ok", async move { stop.wait().await });
        parts.add("boom", async { panic!("boom") });
        assert!(parts.run().await.is_err());
    }
}
