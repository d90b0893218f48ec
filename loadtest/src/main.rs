//! Weft load generator. Scenario `w3` (the default): a webhook starts a workflow of three
//! sequential HTTP steps, each fed the previous step's output, against an echo server this
//! program runs itself. Scenario `agents`: http → code → transform → http, the code step
//! computing on the first step's output in the sandbox and the transform step reshaping the
//! code step's output with jq before the last HTTP step posts it. Scenario `foreach`: one run
//! of one `foreach` step over `--items` items, 20 at a time, each an HTTP call (mode `items`:
//! the figure is items per second, to compare 1,000 with 10,000 items). Scenario `baseline`:
//! W3 against the no-engine server (`weft-baseline`, `--weft` its address), whose answer is the
//! run's end: the floor Weft's figures are read against.
//!
//! Latency is end to end: from sending the webhook to receiving the execution's
//! `dev.weft.execution.succeeded` lifecycle event on NATS. Modes: `fixed` sends at a constant
//! rate (open loop); `saturate` keeps N runs in flight (closed loop) to find the throughput.
//! Mode `backlog` (see [`backlog`]): `--count` runs queued behind a stopped executor, then
//! drained, following the processes' memory (`--rss`).
//!
//! With `--cpu` probes the CPU time each process spent per completed run over the measured
//! window (load and drain) is reported too. Figures go to stdout and, as JSON, to `--out`.
//! Every loop is bounded in count and time and targets only the addresses given (loopback by
//! default).

mod backlog;
mod cpu;
mod echo;
mod report;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot};

/// Command line.
#[derive(Debug, Parser)]
struct Args {
    /// Weft's HTTP address (hooks and API); the baseline server's for scenario `baseline`.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    weft: String,
    /// NATS, to observe lifecycle events.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Workflow shape: `w3` (three HTTP steps) or `agents` (http → code → transform → http).
    #[arg(long, value_enum, env = "WEFT_LOAD_SCENARIO", default_value = "w3")]
    scenario: Scenario,
    /// fixed rate or saturation.
    #[arg(long, value_enum, default_value = "fixed")]
    mode: Mode,
    /// Runs per second (fixed mode).
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Runs in flight (saturate mode).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Items of the one run (items mode).
    #[arg(long, default_value_t = 1000)]
    items: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Seconds to wait for stragglers after the load.
    #[arg(long, default_value_t = 30)]
    drain: u64,
    /// Processes whose CPU time to report per run: `NAME=PID` or `NAME=comm:COMMAND` (every
    /// process of that name, e.g. `postgres=comm:postgres`); repeatable.
    #[arg(long = "cpu")]
    cpu: Vec<cpu::Probe>,
    /// Runs to queue (backlog mode).
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Longest wait for the router to take the queued runs before the executor starts
    /// (backlog).
    #[arg(long, default_value_t = 600)]
    settle: u64,
    /// Shell command that starts the executor once every run is queued (backlog).
    #[arg(long)]
    after_send: Option<String>,
    /// Processes whose resident memory to follow: `NAME=PID` (backlog); repeatable.
    #[arg(long = "rss")]
    rss: Vec<cpu::Probe>,
    /// Where webhooks go when not at `--weft` (a webhook service of its own).
    #[arg(long)]
    hooks: Option<String>,
    /// JSON file to write the figures to.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Scenario {
    W3,
    Agents,
    Foreach,
    Baseline,
}

impl Scenario {
    /// Workflow name, also the webhook path.
    fn workflow(self) -> &'static str {
        match self {
            Scenario::W3 | Scenario::Baseline => "loadtest-w3",
            Scenario::Agents => "loadtest-agents",
            Scenario::Foreach => "loadtest-foreach",
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Fixed,
    Saturate,
    Items,
    Backlog,
}

/// Sent runs waiting for their lifecycle event, by event id.
type Waiters = Arc<Mutex<HashMap<String, (Instant, Option<oneshot::Sender<()>>)>>>;

struct Shared {
    http: reqwest::Client,
    /// The answer ends the run (the baseline), not a lifecycle event.
    synchronous: bool,
    hook: String,
    waiters: Waiters,
    latencies: Mutex<hdrhistogram::Histogram<u64>>,
    errors: Mutex<u64>,
    accepted: Mutex<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    weft_runtime::init_crypto();
    let args = Args::parse();
    let echo = echo::start().await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(256)
        .build()?;
    apply_workflow(&http, &args.weft, &echo, args.scenario).await?;
    let shared = Arc::new(Shared {
        http,
        synchronous: matches!(args.scenario, Scenario::Baseline),
        hook: format!(
            "{}/hooks/{}",
            args.hooks.as_deref().unwrap_or(&args.weft),
            args.scenario.workflow()
        ),
        waiters: Arc::default(),
        latencies: Mutex::new(hdrhistogram::Histogram::new(3)?),
        errors: Mutex::new(0),
        accepted: Mutex::new(0),
    });
    let observer = match shared.synchronous {
        true => None,
        false => Some(observe(&args.nats, shared.clone()).await?),
    };
    warm_up(&shared).await?;
    let cpu_before = cpu::sample(&args.cpu);
    let mut backlog_figures = None;
    let started = Instant::now();
    match args.mode {
        Mode::Fixed => fixed(&shared, args.rate, Duration::from_secs(args.duration)).await,
        Mode::Saturate => {
            saturate(
                &shared,
                args.concurrency,
                Duration::from_secs(args.duration),
            )
            .await
        }
        Mode::Items => items(&shared, args.items, Duration::from_secs(args.duration)).await,
        Mode::Backlog => {
            let b = backlog::Backlog {
                count: args.count,
                concurrency: args.concurrency,
                settle: Duration::from_secs(args.settle),
                nats: args.nats.clone(),
                after_send: args.after_send.clone(),
                rss: args.rss.clone(),
                drain_limit: Duration::from_secs(args.drain),
            };
            backlog_figures = Some(b.run(&shared).await);
        }
    }
    let sent_for = started.elapsed();
    let completed_in_window = shared.latencies.lock().map(|h| h.len()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(args.drain);
    while Instant::now() < deadline && !shared.waiters.lock().map(|w| w.is_empty()).unwrap_or(true)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cpu_after = cpu::sample(&args.cpu);
    if let Some(observer) = observer {
        observer.abort();
    }
    let completed = shared.latencies.lock().map(|h| h.len()).unwrap_or(0);
    let cpu = cpu::per_run(&cpu_before, &cpu_after, completed);
    let mut report = report::Report::new(&args, &shared, sent_for, completed_in_window, cpu);
    if let Some(figures) = backlog_figures {
        report.set("backlog", figures);
    }
    report.print();
    if let Some(out) = &args.out {
        report.write(out)?;
    }
    Ok(())
}

async fn apply_workflow(
    http: &reqwest::Client,
    weft: &str,
    echo: &str,
    scenario: Scenario,
) -> anyhow::Result<()> {
    if matches!(scenario, Scenario::Baseline) {
        let resp = http
            .post(format!("{weft}/configure"))
            .json(&json!({"echo": echo}))
            .send()
            .await
            .context("cannot reach the baseline server")?;
        if !resp.status().is_success() {
            bail!("configuring the baseline failed: {}", resp.status());
        }
        return Ok(());
    }
    let yaml = match scenario {
        Scenario::W3 | Scenario::Baseline => format!(
            r#"name: loadtest-w3
on: {{ webhook: {{ path: loadtest-w3 }} }}
steps:
  one:   {{ uses: http, with: {{ method: POST, url: "{echo}/step/1", json: "${{{{ event.data.body }}}}" }} }}
  two:   {{ needs: one, uses: http, with: {{ method: POST, url: "{echo}/step/2", json: "${{{{ steps.one.output.body }}}}" }} }}
  three: {{ needs: two, uses: http, with: {{ method: POST, url: "{echo}/step/3", json: "${{{{ steps.two.output.body }}}}" }} }}
"#
        ),
        // The code step sums the digits of the run number and formats a label; the transform
        // step reshapes that with jq; the last HTTP step posts the result to the echo server.
        Scenario::Agents => format!(
            r#"name: loadtest-agents
on: {{ webhook: {{ path: loadtest-agents }} }}
steps:
  fetch: {{ uses: http, with: {{ method: POST, url: "{echo}/step/1", json: "${{{{ event.data.body }}}}" }} }}
  score:
    needs: fetch
    uses: code
    with:
      inputs: {{ body: "${{{{ steps.fetch.output.body }}}}" }}
      timeout: 2s
      script: |
        const b = inputs.body;
        const digits = String(b.i ?? 0).split("").map(Number);
        const sum = digits.reduce((s, d) => s + d, 0);
        return {{ value: b.value + sum, digits: digits.length, label: `run ${{b.i ?? 0}} after step ${{b.step}}`, i: b.i }};
  shape:
    needs: score
    uses: transform
    with:
      input: "${{{{ steps.score.output }}}}"
      jq: '{{value: (.value + 1), i, words: (.label | split(" ") | length), label: (.label | ascii_upcase)}}'
  report: {{ needs: shape, uses: http, with: {{ method: POST, url: "{echo}/step/4", json: "${{{{ steps.shape.output }}}}" }} }}
"#
        ),
        Scenario::Foreach => format!(
            r#"name: loadtest-foreach
on: {{ webhook: {{ path: loadtest-foreach }} }}
steps:
  each:
    uses: http
    foreach: "${{{{ has(event.data.body.items) ? event.data.body.items : [] }}}}"
    concurrency: 20
    with: {{ method: POST, url: "{echo}/step/1", json: {{ i: "${{{{ item }}}}" }} }}
"#
        ),
    };
    let resp = http
        .put(format!("{weft}/api/v1/workflows/{}", scenario.workflow()))
        .header("content-type", "application/yaml")
        .body(yaml)
        .send()
        .await
        .context("cannot reach Weft")?;
    if !resp.status().is_success() {
        bail!(
            "applying the workflow failed: {} {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// Record the latency of every run whose succeeded event arrives.
async fn observe(nats: &str, shared: Arc<Shared>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let client = async_nats::connect(nats)
        .await
        .context("cannot reach NATS")?;
    let mut sub = client.subscribe("weft.events.execution").await?;
    Ok(tokio::spawn(async move {
        let _keep = client;
        while let Some(msg) = sub.next().await {
            let Ok(ev) = serde_json::from_slice::<Value>(&msg.payload) else {
                continue;
            };
            if ev["type"] != "dev.weft.execution.succeeded" {
                continue;
            }
            let Some(event_id) = ev["data"]["event_id"].as_str() else {
                continue;
            };
            let waiter = shared
                .waiters
                .lock()
                .ok()
                .and_then(|mut w| w.remove(event_id));
            if let Some((sent, done)) = waiter {
                let micros = sent.elapsed().as_micros() as u64;
                if let Ok(mut h) = shared.latencies.lock() {
                    let _ = h.record(micros);
                }
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
        }
    }))
}

/// Wait until the hook is live and one run completes.
async fn warm_up(shared: &Arc<Shared>) -> anyhow::Result<()> {
    for _ in 0..100 {
        let resp = shared
            .http
            .post(&shared.hook)
            .json(&json!({"value": 0, "warmup": true}))
            .send()
            .await;
        let expected = if shared.synchronous { 200 } else { 202 };
        if resp.is_ok_and(|r| r.status().as_u16() == expected) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the webhook never accepted a request")
}

/// Send one run; register it before the answer so a fast lifecycle event is not missed.
pub(crate) async fn send(shared: &Shared, i: u64, done: Option<oneshot::Sender<()>>) -> bool {
    send_body(shared, i, &json!({"value": 0, "i": i}), done).await
}

/// [`send`] with this body.
async fn send_body(
    shared: &Shared,
    i: u64,
    body: &Value,
    done: Option<oneshot::Sender<()>>,
) -> bool {
    let key = format!("lt-{}-{i}", std::process::id());
    let sent = Instant::now();
    let resp = shared
        .http
        .post(&shared.hook)
        .header("Idempotency-Key", &key)
        .json(body)
        .send()
        .await;
    if shared.synchronous {
        return answered(shared, sent, resp, done);
    }
    let ok = match resp {
        Ok(r) if r.status().as_u16() == 202 => r
            .json::<Value>()
            .await
            .ok()
            .and_then(|b| b["event_id"].as_str().map(str::to_string)),
        _ => None,
    };
    let Some(id) = ok else {
        if let Ok(mut e) = shared.errors.lock() {
            *e += 1;
        }
        return false;
    };
    if let Ok(mut a) = shared.accepted.lock() {
        *a += 1;
    }
    if let Ok(mut w) = shared.waiters.lock() {
        w.insert(id, (sent, done));
    }
    true
}

/// A synchronous run ended with its answer: 200 is a completed run.
fn answered(
    shared: &Shared,
    sent: Instant,
    resp: reqwest::Result<reqwest::Response>,
    done: Option<oneshot::Sender<()>>,
) -> bool {
    if !resp.is_ok_and(|r| r.status().as_u16() == 200) {
        if let Ok(mut e) = shared.errors.lock() {
            *e += 1;
        }
        return false;
    }
    if let Ok(mut a) = shared.accepted.lock() {
        *a += 1;
    }
    if let Ok(mut h) = shared.latencies.lock() {
        let _ = h.record(sent.elapsed().as_micros() as u64);
    }
    if let Some(done) = done {
        let _ = done.send(());
    }
    true
}

async fn fixed(shared: &Arc<Shared>, rate: u32, duration: Duration) {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = Instant::now() + duration;
    let mut i = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    while Instant::now() < end {
        ticker.tick().await;
        let s = shared.clone();
        i += 1;
        tasks.spawn(async move { send(&s, i, None).await });
    }
    while tasks.join_next().await.is_some() {}
}

async fn saturate(shared: &Arc<Shared>, concurrency: usize, duration: Duration) {
    let permits = Arc::new(Semaphore::new(concurrency));
    let end = Instant::now() + duration;
    let mut i = 0u64;
    while Instant::now() < end {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let s = shared.clone();
        i += 1;
        tokio::spawn(async move {
            let (tx, rx) = oneshot::channel();
            if send(&s, i, Some(tx)).await {
                let _ = tokio::time::timeout(Duration::from_secs(30), rx).await;
            }
            drop(permit);
        });
    }
}

/// One run of `n` items; waits at most `limit` for it to end.
async fn items(shared: &Arc<Shared>, n: u64, limit: Duration) {
    let body = json!({"value": 0, "items": (0..n).collect::<Vec<u64>>()});
    let (tx, rx) = oneshot::channel();
    if send_body(shared, 1, &body, Some(tx)).await {
        let _ = tokio::time::timeout(limit, rx).await;
    }
}
