//! A workflow's `concurrency` and `debounce` end to end, on real NATS and PostgreSQL: runs of
//! one key wait for each other while another key's run goes on (`queue`); a run beyond the
//! limit is dropped (`skip`) or cancels the running one (`cancel_previous`); of a burst of
//! events of one key only the last runs (`debounce`). Every execution is also replayed from
//! its journal (see `common`).

mod common;

use std::time::Duration;

use common::Env;
use serde_json::json;

#[tokio::test]
async fn queue_runs_one_per_key_at_a_time_and_other_keys_meanwhile() {
    let env = Env::start().await;
    env.apply(
        r#"
name: per-customer
on: { webhook: { path: per-customer } }
concurrency: { key: "${{ event.data.body.customer }}" }
steps:
  work: { uses: http, with: { method: POST, url: "{upstream}/delay/400/work", json: { customer: "${{ event.data.body.customer }}", n: "${{ event.data.body.n }}" } } }
"#,
    )
    .await;
    let mut events = Vec::new();
    for (customer, n) in [("a", 1), ("a", 2), ("a", 3), ("b", 1)] {
        let body = json!({"customer": customer, "n": n});
        events.push(env.trigger("per-customer", body).await);
    }
    for event in &events {
        let done = env.finished(event).await;
        assert_eq!(done["status"], "succeeded", "{done}");
    }
    let seen = env.upstream.seen("/delay/400/work");
    let starts = |c: &str| {
        let mut s: Vec<_> = seen
            .iter()
            .filter(|s| s.body["customer"] == c)
            .map(|s| s.started)
            .collect();
        s.sort();
        s
    };
    let (a, b) = (starts("a"), starts("b"));
    assert_eq!((a.len(), b.len()), (3, 1));
    for pair in a.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(400),
            "two runs of key a overlapped"
        );
    }
    assert!(b[0] < a[2], "key b waited for key a");
}

#[tokio::test]
async fn skip_drops_a_run_and_cancel_previous_makes_room() {
    let env = Env::start().await;
    for (name, policy) in [("skipper", "skip"), ("replacer", "cancel_previous")] {
        env.apply(&format!(
            "name: {name}\non: {{ webhook: {{ path: {name} }} }}\nconcurrency: {{ limit: 1, policy: {policy} }}\nsteps:\n  nap: {{ sleep: 1500ms }}\n"
        ))
        .await;
    }
    let first = env.trigger("skipper", json!({"n": 1})).await;
    let id = env.execution_id_of(&first).await;
    wait_running(&env, &id).await;
    let second = env.trigger("skipper", json!({"n": 2})).await;
    let done = env.finished(&second).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    let message = done["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("concurrency: skip"), "{message}");
    assert_eq!(env.finished(&first).await["status"], "succeeded");

    let first = env.trigger("replacer", json!({"n": 1})).await;
    let id = env.execution_id_of(&first).await;
    wait_running(&env, &id).await;
    let second = env.trigger("replacer", json!({"n": 2})).await;
    let done = env.finished(&first).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    let message = done["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("cancel_previous"), "{message}");
    assert_eq!(env.finished(&second).await["status"], "succeeded");
}

#[tokio::test]
async fn debounce_runs_only_the_last_event_of_a_burst() {
    let env = Env::start().await;
    env.apply(
        r#"
name: settle
on: { webhook: { path: settle } }
debounce: { key: "${{ event.data.body.doc }}", period: 1s }
steps:
  save: { uses: http, with: { method: POST, url: "{upstream}/echo/save", json: { doc: "${{ event.data.body.doc }}", n: "${{ event.data.body.n }}" } } }
"#,
    )
    .await;
    let mut burst = Vec::new();
    for n in 1..=3 {
        burst.push(env.trigger("settle", json!({"doc": "x", "n": n})).await);
    }
    let other = env.trigger("settle", json!({"doc": "y", "n": 9})).await;
    for event in &burst[..2] {
        let done = env.finished(event).await;
        assert_eq!(done["status"], "cancelled", "{done}");
        let message = done["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("debounced"), "{message}");
    }
    assert_eq!(env.finished(&burst[2]).await["status"], "succeeded");
    assert_eq!(env.finished(&other).await["status"], "succeeded");
    let mut saved: Vec<_> = env
        .upstream
        .seen("/echo/save")
        .iter()
        .map(|s| s.body.clone())
        .collect();
    saved.sort_by_key(|b| b.to_string());
    assert_eq!(
        saved,
        [json!({"doc": "x", "n": 3}), json!({"doc": "y", "n": 9})]
    );
}

/// Wait until execution `id` runs.
async fn wait_running(env: &Env, id: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while env.execution(id).await["status"] != "running" {
        assert!(tokio::time::Instant::now() < deadline, "{id} never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_rate_limit_spaces_the_starts_of_a_step_across_items() {
    let env = Env::start().await;
    env.apply(
        r#"
name: gentle
on: { webhook: { path: gentle } }
steps:
  call:
    uses: http
    foreach: ${{ event.data.body.items }}
    concurrency: 6
    rate_limit: { limit: 2, per: 1s }
    timeout: 2s
    with: { method: POST, url: "{upstream}/echo/gentle", json: { i: "${{ index }}" } }
"#,
    )
    .await;
    let event = env
        .trigger("gentle", json!({"items": [0, 1, 2, 3, 4, 5]}))
        .await;
    let done = env.finished(&event).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let mut starts: Vec<_> = env
        .upstream
        .seen("/echo/gentle")
        .iter()
        .map(|s| s.started)
        .collect();
    starts.sort();
    assert_eq!(starts.len(), 6);
    // One start every 500 ms (the delayed publisher looks every 100 ms); the last waited
    // 2.5 s, past its 2 s timeout had the timeout counted from the dispatch.
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(350), "starts {gap:?} apart");
    }
    assert!(starts[5] - starts[0] >= Duration::from_millis(2300));
}

#[tokio::test]
async fn a_cancelled_run_takes_back_its_rate_limited_tasks_before_they_are_sent() {
    let env = Env::start().await;
    env.apply(
        r#"
name: fragile
on: { webhook: { path: fragile } }
steps:
  call:
    uses: http
    foreach: ${{ event.data.body.items }}
    concurrency: 3
    rate_limit: { limit: 1, per: 2s }
    with: { method: POST, url: "{upstream}/echo/fragile", json: { i: "${{ index }}" } }
"#,
    )
    .await;
    let event = env.trigger("fragile", json!({"items": [0, 1, 2]})).await;
    let id = env.execution_id_of(&event).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while env.upstream.seen("/echo/fragile").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first item never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env.cancel(&id).await;
    assert_eq!(env.finished(&event).await["status"], "cancelled");
    // Items 1 and 2 had slots 2 s and 4 s after the first: past both, nothing else came.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(env.upstream.seen("/echo/fragile").len(), 1);
}
