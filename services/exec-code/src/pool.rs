//! A pool of warm runners: started ahead, each waiting for its one request.
//!
//! Consumes a [`Sandbox`]; produces ready [`Runner`]s. Touches processes: a background task
//! keeps up to `size` runners started (a runner serves one script and exits, so every taken
//! runner is replaced). When none is waiting, [`Pool::take`] starts one on the spot (a cold
//! start). When starting fails, the filler backs off (1 s doubling to 30 s) and callers get
//! the start error from their own cold start. Dropping the pool stops the filler and kills
//! the waiting runners.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use crate::error::CodeError;
use crate::sandbox::{Runner, Sandbox};

/// Warm runners over one sandbox.
#[derive(Debug)]
pub struct Pool {
    sandbox: Arc<Sandbox>,
    ready: Option<Mutex<mpsc::Receiver<Runner>>>,
    filler: Option<JoinHandle<()>>,
}

impl Pool {
    /// A pool keeping `size` runners warm (0: no pool, every take is a cold start). Must be
    /// called inside a Tokio runtime when `size > 0`.
    pub fn new(sandbox: Arc<Sandbox>, size: usize) -> Self {
        if size == 0 {
            return Self {
                sandbox,
                ready: None,
                filler: None,
            };
        }
        let (tx, rx) = mpsc::channel(size);
        let filler = tokio::spawn(fill(sandbox.clone(), tx));
        Self {
            sandbox,
            ready: Some(Mutex::new(rx)),
            filler: Some(filler),
        }
    }

    /// The sandbox runners come from.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// A ready runner: a warm one when one waits, else a newly started one.
    pub async fn take(&self) -> Result<Runner, CodeError> {
        if let Some(ready) = &self.ready {
            let mut ready = ready.lock().await;
            while let Ok(mut runner) = ready.try_recv() {
                if runner.is_alive() {
                    return Ok(runner);
                }
            }
        }
        self.sandbox.start().await
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Some(filler) = &self.filler {
            filler.abort();
        }
    }
}

/// Keep the channel full of started runners until the pool is dropped.
async fn fill(sandbox: Arc<Sandbox>, tx: mpsc::Sender<Runner>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let Ok(permit) = tx.reserve().await else {
            return;
        };
        match sandbox.start().await {
            Ok(runner) => {
                permit.send(runner);
                backoff = Duration::from_secs(1);
            }
            Err(e) => {
                drop(permit);
                tracing::warn!(error = %e.message, retry_in = ?backoff, "cannot start a warm code runner");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
