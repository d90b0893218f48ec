//! Mode `backlog`: `--count` runs queued behind a stopped executor, then drained. The
//! generator sends every run (at most `--concurrency` webhooks in flight) while no executor
//! of the workflow's agent runs, waits until the router has taken every event (its consumer
//! `router-events` has nothing pending; at most `--settle` seconds), then starts the executor
//! (`--after-send`, a shell command; stopped by PID at the end) and waits for every run to end. Reported: the send and drain rates, and the resident memory of
//! each `--rss` process while sending, once queued and while draining (the router's should
//! not grow with the runs it holds: O(active runs), and a queued run is only rows and a
//! message in the stream).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::{Shared, cpu::Probe, send};

/// What drives one backlog run.
pub struct Backlog {
    /// Runs to queue.
    pub count: u64,
    /// Webhooks in flight while sending.
    pub concurrency: usize,
    /// Longest wait between the last accepted webhook and starting the executor.
    pub settle: Duration,
    /// NATS, to see when the router has taken every event.
    pub nats: String,
    /// The command that starts the executor.
    pub after_send: Option<String>,
    /// Processes whose resident memory to follow.
    pub rss: Vec<Probe>,
    /// Longest wait for the drain.
    pub drain_limit: Duration,
}

/// Peak resident MiB of each probe over a phase.
#[derive(Default)]
struct Peaks(std::collections::BTreeMap<String, u64>);

impl Peaks {
    fn sample(&mut self, probes: &[Probe]) {
        for p in probes {
            if let Some(kib) = p.rss_kib() {
                let e = self.0.entry(p.name().to_string()).or_default();
                *e = (*e).max(kib);
            }
        }
    }

    fn mib(&self) -> Value {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), json!(*v as f64 / 1024.0)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

impl Backlog {
    /// Queue, then drain; the figures for the report.
    pub async fn run(&self, shared: &Arc<Shared>) -> Value {
        let started = Instant::now();
        let mut sending = Peaks::default();
        self.send_all(shared, &mut sending).await;
        let send_s = started.elapsed().as_secs_f64();
        let accepted = shared.accepted.lock().map(|a| *a).unwrap_or(0);
        let mut queued = Peaks::default();
        let settle_end = Instant::now() + self.settle;
        let js = match async_nats::connect(&self.nats).await {
            Ok(c) => Some(async_nats::jetstream::new(c)),
            Err(e) => {
                eprintln!("cannot reach NATS to follow the router: {e}");
                None
            }
        };
        while Instant::now() < settle_end && !taken(js.as_ref()).await {
            queued.sample(&self.rss);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let settle_s = (Instant::now() - (started + Duration::from_secs_f64(send_s))).as_secs_f64();
        queued.sample(&self.rss);
        let done_before = completed(shared);
        let mut executor = self.after_send.as_deref().and_then(start);
        let drain_start = Instant::now();
        let mut draining = Peaks::default();
        let mut last = drain_start;
        let mut seen = done_before;
        while drain_start.elapsed() < self.drain_limit && seen < accepted {
            draining.sample(&self.rss);
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = completed(shared);
            if now > seen {
                seen = now;
                last = Instant::now();
            }
        }
        if let Some(child) = executor.as_mut() {
            let _ = child.kill().await;
        }
        let drained = seen.saturating_sub(done_before);
        let drain_s = last.duration_since(drain_start).as_secs_f64();
        json!({
            "count": self.count,
            "accepted": accepted,
            "send_s": send_s,
            "settle_s": settle_s,
            "sent_per_s": accepted as f64 / send_s,
            "ended_before_the_executor": done_before,
            "drained": drained,
            "drain_s": drain_s,
            "drained_per_s": if drain_s > 0.0 { drained as f64 / drain_s } else { 0.0 },
            "rss_mib_peak": {"sending": sending.mib(), "queued": queued.mib(), "draining": draining.mib()},
        })
    }

    async fn send_all(&self, shared: &Arc<Shared>, peaks: &mut Peaks) {
        let permits = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let mut tick = Instant::now();
        for i in 1..=self.count {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let s = shared.clone();
            tasks.spawn(async move {
                send(&s, i, None).await;
                drop(permit);
            });
            while tasks.try_join_next().is_some() {}
            if tick.elapsed() > Duration::from_millis(500) {
                peaks.sample(&self.rss);
                tick = Instant::now();
            }
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// Whether the router's event consumer has taken every event (none pending or unacknowledged).
async fn taken(js: Option<&async_nats::jetstream::Context>) -> bool {
    let Some(js) = js else {
        return false;
    };
    let Ok(stream) = js.get_stream("WEFT_EVENTS").await else {
        return false;
    };
    let Ok(mut consumer) = stream
        .get_consumer::<async_nats::jetstream::consumer::pull::Config>("router-events")
        .await
    else {
        return false;
    };
    match consumer.info().await {
        Ok(info) => info.num_pending == 0 && info.num_ack_pending == 0,
        Err(_) => false,
    }
}

fn completed(shared: &Shared) -> u64 {
    shared.latencies.lock().map(|h| h.len()).unwrap_or(0)
}

/// Start `command` with `sh -c`; stopped by PID (`kill_on_drop` too).
fn start(command: &str) -> Option<tokio::process::Child> {
    match tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => Some(child),
        Err(e) => {
            eprintln!("cannot start `{command}`: {e}");
            None
        }
    }
}
