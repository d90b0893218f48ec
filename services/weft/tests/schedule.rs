//! `on.schedule` end to end: real cron ticks start executions, one per tick even with two cron
//! replicas; and `overlap`, enforced by the router against a slow step (the upstream's
//! `/slow`): skip, buffer_one and cancel_previous, and skip under two router replicas deciding
//! ticks at once. For the overlap tests the ticks are published here as the cron service would
//! (source `weft/schedule/<workflow>`, data `{schedule, timezone, scheduled_time, fired_time}`),
//! so each test decides exactly when a tick arrives; their schedules never come due.

mod common;

use std::time::Duration;

use common::Env;
use serde_json::{Value, json};
use weft_bus::Bus;
use weft_events::{subjects, types};

/// A yearly schedule: the cron service never fires it during a test.
const CRON: &str = "0 0 1 1 *";

fn workflow(name: &str, overlap: &str, slow_ms: u64) -> String {
    format!(
        r#"
name: {name}
on: {{ schedule: {{ cron: "{CRON}", overlap: {overlap} }} }}
steps:
  work: {{ uses: http, with: {{ method: POST, url: "{{upstream}}/slow/{slow_ms}" }}, timeout: 20s }}
"#
    )
}

/// Publish tick `n` of `workflow`; returns its event id.
async fn tick(bus: &Bus, workflow: &str, n: u32) -> String {
    let id = format!("{workflow}-tick-{n}");
    let scheduled = format!("2026-01-01T00:00:{n:02}+00:00");
    let data = json!({"schedule": CRON, "timezone": "UTC", "scheduled_time": scheduled, "fired_time": scheduled});
    let source = types::trigger_source("schedule", workflow);
    let event = weft_events::new_event(&id, types::SCHEDULE_FIRED, &source, Some(&scheduled), data);
    bus.publish_event(subjects::EVENTS_SCHEDULE, &event)
        .await
        .expect("tick published");
    id
}

/// The status of the execution of `event_id`, once there is one.
async fn status(env: &Env, event_id: &str) -> Option<String> {
    let execs = env.executions_for(event_id).await;
    execs
        .first()
        .map(|e| e["status"].as_str().unwrap_or("").to_string())
}

async fn wait_status(env: &Env, event_id: &str, want: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let execs = env.executions_for(event_id).await;
        if let Some(e) = execs.first().filter(|e| e["status"] == json!(want)) {
            return env.execution(e["id"].as_str().expect("id")).await;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{event_id} never reached {want}: {execs:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `weft_schedule_ticks_skipped_total{workflow, reason}` from `/metrics`.
async fn skipped(env: &Env, workflow: &str, reason: &str) -> u64 {
    let text = env
        .http
        .get(format!("{}/metrics", env.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|l| l.starts_with("weft_schedule_ticks_skipped_total{"))
        .filter(|l| l.contains(&format!("workflow=\"{workflow}\"")))
        .filter(|l| l.contains(&format!("reason=\"{reason}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

async fn wait_skipped(env: &Env, workflow: &str, reason: &str, n: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while skipped(env, workflow, reason).await < n {
        if tokio::time::Instant::now() >= deadline {
            let text = env
                .http
                .get(format!("{}/metrics", env.base))
                .send()
                .await
                .expect("metrics")
                .text()
                .await
                .expect("text");
            let lines: Vec<&str> = text.lines().filter(|l| l.contains("skipped")).collect();
            panic!(
                "{workflow}: fewer than {n} ticks skipped for {reason}; /metrics has {lines:#?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn bus(env: &Env) -> Bus {
    Bus::connect(&env.nats.url, "ticks").await.expect("bus")
}

#[tokio::test]
async fn cron_ticks_start_one_execution_each_with_two_cron_replicas() {
    let env = Env::start().await; // hosts one cron service
    let stop = weft_runtime::Shutdown::new();
    let replica = weft_trigger::TriggerService::new(
        weft_cron::CronSource,
        weft_trigger::TriggerDeps::without_secrets(bus(&env).await),
    );
    let second_cron = tokio::spawn(replica.run(stop.clone()));
    env.apply(
        r#"
name: every-second
on: { schedule: { cron: "*/1 * * * * *" } }
steps:
  call: { uses: http, with: { method: POST, url: "{upstream}/echo/tick", json: "${{ event.data }}" } }
"#,
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while env.executions_of("every-second").await.len() < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "ticks do not start executions"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cutoff = chrono::Utc::now() - chrono::TimeDelta::seconds(1);
    let ticks = stored_ticks(&env, "every-second").await;
    let ticks: Vec<&Value> = ticks.iter().filter(|t| scheduled(t) <= cutoff).collect();
    assert!(ticks.len() >= 3, "{ticks:?}");
    let mut times: Vec<String> = ticks
        .iter()
        .map(|t| t["data"]["scheduled_time"].to_string())
        .collect();
    times.sort();
    times.dedup();
    assert_eq!(
        times.len(),
        ticks.len(),
        "one event per tick from two replicas: {ticks:?}"
    );
    for t in &ticks {
        let id = t["id"].as_str().expect("id");
        let done = env.finished(id).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(
            env.executions_for(id).await.len(),
            1,
            "one execution per tick"
        );
        assert_eq!(done["event"]["data"]["schedule"], "*/1 * * * * *", "{done}");
    }
    let calls = env.upstream.seen("/echo/tick");
    for t in &ticks {
        let n = calls.iter().filter(|c| c.body == t["data"]).count();
        assert_eq!(n, 1, "the step ran once for {}", t["data"]);
    }
    stop.trigger();
    let stopped = second_cron.await.expect("replica stops");
    assert!(stopped.is_ok(), "the replica stopped cleanly: {stopped:?}");
}

#[tokio::test]
async fn real_ticks_with_overlap_skip_never_run_two_at_once() {
    let env = Env::start().await;
    env.apply(
        r#"
name: real-skip
on: { schedule: { cron: "*/1 * * * * *", timezone: Europe/Berlin, overlap: skip } }
steps:
  work: { uses: http, with: { method: POST, url: "{upstream}/slow/2200" } }
"#,
    )
    .await;
    wait_skipped(&env, "real-skip", "overlap_skip", 3).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut runs = Vec::new();
    while runs.len() < 2 {
        runs = env.executions_of("real-skip").await;
        runs.retain(|e| e["status"] == json!("succeeded"));
        assert!(
            tokio::time::Instant::now() < deadline,
            "no two runs finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut spans = Vec::new();
    for e in &runs {
        let d = env.execution(e["id"].as_str().expect("id")).await;
        spans.push((at(&d["started_at"]), at(&d["finished_at"])));
    }
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "two runs overlapped: {spans:?}");
    }
}

/// The schedule events of `workflow` stored in WEFT_EVENTS.
async fn stored_ticks(env: &Env, workflow: &str) -> Vec<Value> {
    let client = async_nats::connect(&env.nats.url).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let source = types::trigger_source("schedule", workflow);
    weft_testkit::stored_messages(
        &js,
        "WEFT_EVENTS",
        subjects::EVENTS_SCHEDULE,
        0,
        Duration::from_millis(500),
    )
    .await
    .expect("events readable")
    .iter()
    .map(|m| serde_json::from_slice::<Value>(&m.payload).expect("event json"))
    .filter(|e| e["source"] == json!(source))
    .collect()
}

/// A timestamp of the API.
fn at(v: &Value) -> chrono::DateTime<chrono::Utc> {
    let text = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .to_utc()
}

fn scheduled(event: &Value) -> chrono::DateTime<chrono::Utc> {
    let text = event["data"]["scheduled_time"]
        .as_str()
        .expect("scheduled_time");
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .to_utc()
}

#[tokio::test]
async fn overlap_skip_drops_a_tick_while_one_runs() {
    let env = Env::start().await;
    env.apply(&workflow("ov-skip", "skip", 4000)).await;
    let bus = bus(&env).await;
    let first = tick(&bus, "ov-skip", 1).await;
    wait_status(&env, &first, "running").await;
    let second = tick(&bus, "ov-skip", 2).await;
    wait_skipped(&env, "ov-skip", "overlap_skip", 1).await;
    assert_eq!(
        status(&env, &second).await,
        None,
        "a skipped tick has no execution"
    );
    assert_eq!(status(&env, &first).await.as_deref(), Some("running"));
    wait_status(&env, &first, "succeeded").await;
    // Nothing runs any more: the next tick starts.
    let third = tick(&bus, "ov-skip", 3).await;
    wait_status(&env, &third, "running").await;
    // A redelivered (re-published) skipped tick is still one decision per tick id at most.
    assert_eq!(env.executions_of("ov-skip").await.len(), 2);
}

#[tokio::test]
async fn overlap_buffer_one_keeps_one_tick_waiting() {
    let env = Env::start().await;
    env.apply(&workflow("ov-buffer", "buffer_one", 8000)).await;
    let bus = bus(&env).await;
    let first = tick(&bus, "ov-buffer", 1).await;
    wait_status(&env, &first, "running").await;
    let second = tick(&bus, "ov-buffer", 2).await;
    wait_status(&env, &second, "queued").await;
    let third = tick(&bus, "ov-buffer", 3).await;
    wait_skipped(&env, "ov-buffer", "overlap_buffer_full", 1).await;
    assert_eq!(
        status(&env, &third).await,
        None,
        "a second waiting tick is dropped"
    );
    assert_eq!(status(&env, &first).await.as_deref(), Some("running"));

    let done = wait_status(&env, &first, "succeeded").await;
    let next = wait_status(&env, &second, "succeeded").await;
    let ended = at(&done["finished_at"]);
    let started = at(&next["started_at"]);
    assert!(
        started >= ended,
        "the buffered tick started ({started}) before the running one ended ({ended})"
    );
    assert_eq!(env.executions_of("ov-buffer").await.len(), 2);
    assert_eq!(env.upstream.seen("/slow/8000").len(), 2);
}

#[tokio::test]
async fn overlap_cancel_previous_cancels_then_starts() {
    let env = Env::start().await;
    env.apply(&workflow("ov-cancel", "cancel_previous", 3000))
        .await;
    let bus = bus(&env).await;
    // The executor is told to stop the cancelled execution's running attempt.
    let mut cancels = bus
        .client()
        .subscribe(subjects::cancel_subject("http"))
        .await
        .expect("subscribe to cancels");
    let first = tick(&bus, "ov-cancel", 1).await;
    wait_status(&env, &first, "running").await;
    let second = tick(&bus, "ov-cancel", 2).await;
    let cancelled = wait_status(&env, &first, "cancelled").await;
    assert_eq!(cancelled["error"]["code"], "cancelled", "{cancelled}");
    let work = Env::step(&cancelled, "work");
    assert_eq!(work["status"], "cancelled");
    let sent = tokio::time::timeout(
        Duration::from_secs(5),
        futures::StreamExt::next(&mut cancels),
    )
    .await
    .expect("a cancel reaches the executor")
    .expect("subscription open");
    let sent: Value = serde_json::from_slice(&sent.payload).expect("cancel event");
    assert_eq!(sent["type"], types::TASK_CANCEL, "{sent}");
    let why = sent["data"]["reason"].as_str().unwrap_or_default();
    assert_eq!(why, "execution cancelled", "{sent}");
    let attempt = sent["data"]["attempt_id"].as_str().unwrap_or_default();
    assert!(attempt.parse::<uuid::Uuid>().is_ok(), "{sent}");
    let next = wait_status(&env, &second, "succeeded").await;
    assert!(at(&next["started_at"]) >= at(&cancelled["finished_at"]));
}

#[tokio::test]
async fn overlap_skip_holds_under_two_router_replicas() {
    let env = Env::start().await;
    // A second router replica on the same bus and database.
    let store = weft_store::Store::connect(&env.db.url, 8)
        .await
        .expect("store");
    let config = weft_runtime::CommonConfig {
        nats_url: env.nats.url.clone(),
        database_url: env.db.url.clone(),
        ..Default::default()
    };
    let replica = weft_router::RouterService::new(
        weft_router::RouterConfig::from_common(&config),
        weft_router::RouterDeps {
            store,
            bus: bus(&env).await,
            artifacts: weft_executor::Artifacts::in_memory(),
            locals: weft_executor::Locals::default(),
        },
    );
    let stop = weft_runtime::Shutdown::new();
    let second_router = tokio::spawn(replica.run(stop.clone()));

    env.apply(&workflow("ov-race", "skip", 3000)).await;
    let bus = bus(&env).await;
    // Twelve ticks at once: both replicas decide some of them concurrently.
    let ids = futures::future::join_all((1..=12).map(|n| tick(&bus, "ov-race", n))).await;
    wait_skipped(&env, "ov-race", "overlap_skip", 11).await;
    let execs = env.executions_of("ov-race").await;
    assert_eq!(execs.len(), 1, "exactly one tick may start: {execs:?}");
    assert!(ids.contains(&execs[0]["event_id"].as_str().unwrap_or("").to_string()));
    stop.trigger();
    let stopped = second_router.await.expect("replica stops");
    assert!(stopped.is_ok(), "the replica stopped cleanly: {stopped:?}");
}
