//! Harness of the cron trigger tests: a real NATS server, workflows put into the
//! `weft_workflows` bucket as the admin API does, the cron service run in a task, and the ticks
//! it stored read back from `WEFT_EVENTS`.

#![allow(dead_code)]

use std::time::Duration;

use async_nats::jetstream::kv;
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use weft_bus::Bus;
use weft_cron::CronSource;
use weft_events::subjects::{EVENTS_SCHEDULE, EVENTS_STREAM, TRIGGERS_BUCKET, WORKFLOWS_BUCKET};
use weft_flow::Published;
use weft_runtime::Shutdown;
use weft_testkit::{NatsServer, init_crypto, stored_messages};
use weft_trigger::{TriggerHealth, TriggerService};

/// A real NATS server with the streams.
pub async fn setup() -> (NatsServer, Bus) {
    init_crypto();
    let nats = NatsServer::start().await.expect("nats");
    let bus = Bus::connect(&nats.url, "test").await.expect("bus");
    bus.ensure_streams().await.expect("streams");
    (nats, bus)
}

/// Publish workflow `name` with `on.schedule = schedule` (version 1).
pub async fn apply(bus: &Bus, name: &str, schedule: Value) {
    let workflow = serde_json::from_value(json!({
        "name": name, "on": {"schedule": schedule}, "steps": {"a": {"uses": "http"}}
    }))
    .expect("workflow");
    let published = Published {
        version: 1,
        workflow,
    };
    bus.put_json(WORKFLOWS_BUCKET, name, &published)
        .await
        .expect("put workflow");
}

/// A running cron service.
#[derive(Debug)]
pub struct Cron {
    pub stop: Shutdown,
    pub task: JoinHandle<Result<(), weft_trigger::TriggerError>>,
}

impl Cron {
    /// Start a cron service (its own connection, like a separate replica).
    pub async fn start(url: &str) -> Cron {
        let bus = Bus::connect(url, "cron").await.expect("bus");
        let stop = Shutdown::new();
        let task = tokio::spawn(
            TriggerService::new(CronSource, weft_trigger::TriggerDeps::without_secrets(bus))
                .run(stop.clone()),
        );
        Cron { stop, task }
    }

    /// Stop it and wait until it has.
    pub async fn stop(self) {
        self.stop.trigger();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("cron stops in time")
            .expect("cron task")
            .expect("the trigger service stops cleanly");
    }
}

/// One stored tick.
#[derive(Debug, Clone)]
pub struct Tick {
    pub id: String,
    pub ty: String,
    pub source: String,
    pub data: Value,
    pub scheduled: DateTime<FixedOffset>,
}

/// Every tick of `workflow` stored so far (waiting up to `wait` for at least `min`).
pub async fn ticks(bus: &Bus, workflow: &str, min: usize, wait: Duration) -> Vec<Tick> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let all = read(bus, workflow).await;
        if all.len() >= min || tokio::time::Instant::now() >= deadline {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn read(bus: &Bus, workflow: &str) -> Vec<Tick> {
    let msgs = stored_messages(
        bus.jetstream(),
        EVENTS_STREAM,
        EVENTS_SCHEDULE,
        0,
        Duration::from_millis(300),
    )
    .await
    .expect("stream readable");
    let source = format!("weft/schedule/{workflow}");
    msgs.iter()
        .map(|m| serde_json::from_slice::<Value>(&m.payload).expect("event json"))
        .filter(|e| e["source"] == json!(source))
        .map(|e| Tick {
            id: e["id"].as_str().expect("id").to_string(),
            ty: e["type"].as_str().expect("type").to_string(),
            source: e["source"].as_str().expect("source").to_string(),
            scheduled: DateTime::parse_from_rfc3339(
                e["data"]["scheduled_time"]
                    .as_str()
                    .expect("scheduled_time"),
            )
            .expect("RFC 3339"),
            data: e["data"].clone(),
        })
        .collect()
}

/// The health entry of `workflow`'s first schedule.
pub async fn health(bus: &Bus, workflow: &str) -> Option<TriggerHealth> {
    let kv: kv::Store = bus.kv(TRIGGERS_BUCKET).await.ok()?;
    let bytes = kv.get(&format!("{workflow}.schedule.0")).await.ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// Whole seconds since the epoch of `t`.
pub fn secs(t: DateTime<FixedOffset>) -> i64 {
    t.timestamp()
}

/// Sleep until `frac` of a second past the next whole second (ticks of a 1-second schedule
/// are then at least `frac` seconds away, either side).
pub async fn sleep_to_fraction(frac: f64) {
    let now = Utc::now();
    let into = f64::from(now.timestamp_subsec_millis()) / 1000.0;
    let wait = if into < frac {
        frac - into
    } else {
        1.0 - into + frac
    };
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
}

/// No scheduled time appears twice.
pub fn assert_distinct(ticks: &[Tick]) {
    let mut seen: Vec<i64> = ticks.iter().map(|t| secs(t.scheduled)).collect();
    let n = seen.len();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), n, "a tick was published twice: {ticks:#?}");
}
