//! A PostgreSQL outage under load (the "Run control and history" issue): Weft runs on its own
//! PostgreSQL cluster while webhook runs arrive at a steady rate; the cluster is stopped for
//! three minutes and started again. Every run
//! the webhook accepted (before, during and after the outage) must end in exactly one
//! succeeded execution whose step called the upstream, and the dead-letter stream must be
//! empty; and waiting must have cost no deliveries (each event and result reached the router
//! about once).
//!
//! `WEFT_OUTAGE_SECS` shortens the outage for local iteration; the suite runs the full 180 s.

mod common;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::Env;
use serde_json::json;
use weft_events::subjects;
use weft_testkit::PgServer;

const WORKFLOW: &str = "
name: steady
on:
  webhook: { path: steady }
steps:
  call:
    uses: http
    with:
      method: POST
      url: '{upstream}/echo/run-${{ event.data.body.n }}'
      json: ${{ event.data.body }}
";

/// Webhook runs per second.
const RATE: u64 = 10;
/// Load before the outage and after it.
const CALM: Duration = Duration::from_secs(15);

fn outage() -> Duration {
    let secs = std::env::var("WEFT_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(180);
    Duration::from_secs(secs)
}

/// Post `{"n": i}` to the hook `RATE` times a second until `stop`; the event id of every run
/// it accepted (202), by `n`.
fn load(env: &Env, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<HashMap<u64, String>> {
    let (http, base) = (env.http.clone(), env.base.clone());
    tokio::spawn(async move {
        let accepted = Arc::new(Mutex::new(HashMap::new()));
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / RATE));
        let mut n = 0u64;
        let mut posts = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            tick.tick().await;
            n += 1;
            let (http, url, accepted) = (
                http.clone(),
                format!("{base}/hooks/steady"),
                accepted.clone(),
            );
            posts.push(tokio::spawn(async move {
                let Ok(resp) = http.post(url).json(&json!({"n": n})).send().await else {
                    return;
                };
                if resp.status() == 202
                    && let Ok(body) = resp.json::<serde_json::Value>().await
                    && let Some(id) = body["event_id"].as_str()
                {
                    accepted.lock().expect("lock").insert(n, id.to_string());
                }
            }));
        }
        for p in posts {
            let _ = p.await;
        }
        accepted.lock().expect("lock").clone()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_minute_postgresql_outage_under_load_loses_nothing_and_dead_letters_nothing() {
    let outage = outage();
    let mut pg = PgServer::start_logical()
        .await
        .expect("a private PostgreSQL");
    let url = pg.url.clone();
    let env = Env::start_with(|c| c.database_url = url).await;
    env.apply(WORKFLOW).await;
    env.trigger("steady", json!({"n": 0})).await;

    let stop = Arc::new(AtomicBool::new(false));
    let load = load(&env, stop.clone());
    tokio::time::sleep(CALM).await;
    let down = Instant::now();
    let pid = pg.pid();
    tokio::task::block_in_place(|| pg.stop());
    println!("PostgreSQL (pid {pid:?}) stopped for {outage:?}");
    tokio::time::sleep(outage.saturating_sub(down.elapsed())).await;
    pg.start().await.expect("PostgreSQL starts again");
    println!("PostgreSQL back after {:?}", down.elapsed());
    tokio::time::sleep(CALM).await;
    stop.store(true, Ordering::SeqCst);
    let accepted = load.await.expect("load");
    println!("{} runs accepted", accepted.len());
    assert!(
        accepted.len() as u64 > (2 * CALM.as_secs() + outage.as_secs()) * RATE / 2,
        "the webhook kept accepting during the outage: {}",
        accepted.len()
    );

    // Every accepted run ends, once, in success.
    let store = weft_store::Store::connect(&pg.url, 2).await.expect("store");
    let settled = Instant::now();
    let rows: Vec<(String, String)> = loop {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT event_id, status FROM executions WHERE workflow = 'steady'")
                .fetch_all(store.pool())
                .await
                .expect("executions");
        let done = rows.len() > accepted.len()
            && rows
                .iter()
                .all(|(_, s)| !matches!(s.as_str(), "queued" | "running"));
        if done {
            break rows;
        }
        assert!(
            settled.elapsed() < Duration::from_secs(300),
            "{} of {} runs ended 5 min after the outage",
            rows.len(),
            accepted.len() + 1
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    println!("every run ended {:?} after the outage", settled.elapsed());
    let mut by_event: HashMap<&str, Vec<&str>> = HashMap::new();
    for (event, status) in &rows {
        by_event.entry(event).or_default().push(status);
    }
    for (n, event) in &accepted {
        assert_eq!(
            by_event.get(event.as_str()),
            Some(&vec!["succeeded"]),
            "run {n} (event {event})"
        );
    }
    assert_eq!(
        rows.len(),
        accepted.len() + 1,
        "no execution beyond the runs"
    );

    // Each step reached the upstream; a repeat would be a re-dispatch of a finished attempt.
    let seen = env.upstream.seen("/echo/run-");
    let mut calls: HashMap<String, usize> = HashMap::new();
    for s in &seen {
        *calls.entry(s.path.clone()).or_default() += 1;
    }
    for n in accepted.keys() {
        assert!(
            calls.contains_key(&format!("/echo/run-{n}")),
            "run {n} never called"
        );
    }
    let repeated = calls.values().filter(|c| **c > 1).count();
    println!(
        "{} upstream calls, {repeated} runs called more than once",
        seen.len()
    );

    // Nothing was given up on.
    let bus = weft_bus::Bus::connect(&env.nats.url, "outage-test")
        .await
        .expect("bus");
    let page = bus.dead_letters(1, 10).await.expect("dead letters");
    let parked: Vec<&str> = page.items.iter().map(|d| d.reason.as_str()).collect();
    assert!(parked.is_empty(), "dead letters: {parked:?}");
    let (status, body) = env.get_json("/api/v1/dead-letters").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"], json!([]));

    // Waiting cost no deliveries: each event and result reached the router about once. (Before,
    // each was redelivered every few seconds for the whole outage, and dead-lettered after 20
    // deliveries if the outage lasted long enough for that at the load of the moment.)
    for (stream, consumer) in [
        (subjects::EVENTS_STREAM, subjects::ROUTER_EVENTS_CONSUMER),
        (subjects::RESULTS_STREAM, subjects::ROUTER_RESULTS_CONSUMER),
    ] {
        let (messages, deliveries) = deliveries(&bus, stream, consumer).await;
        let redelivered = deliveries.saturating_sub(messages);
        println!("{consumer}: {messages} messages, {redelivered} redeliveries");
        assert!(
            redelivered <= messages / 100 + 10,
            "{consumer}: {redelivered} redeliveries of {messages} messages"
        );
    }
}

/// How many messages `stream` ever held, and how many deliveries `consumer` made of them
/// (JetStream's consumer sequence counts redeliveries too).
async fn deliveries(bus: &weft_bus::Bus, stream: &str, consumer: &str) -> (u64, u64) {
    let stream = bus.jetstream().get_stream(stream).await.expect("stream");
    let messages = stream.get_info().await.expect("info").state.last_sequence;
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer(consumer).await.expect("consumer");
    let info = consumer.info().await.expect("consumer info");
    (messages, info.delivered.consumer_sequence)
}
