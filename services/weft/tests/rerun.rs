//! Rerun from a step and replay of an event, end to end on real NATS and PostgreSQL: a rerun
//! keeps the outputs of the steps upstream of `from` (they are not called again) and runs the
//! rest; one whose upstream failed is refused; a replayed event starts its workflow again as a
//! new execution linked to the original. Every execution is also replayed from its journal.

mod common;

use common::Env;
use serde_json::{Value, json};

async fn post(env: &Env, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = env.http.post(format!("{}{path}", env.base));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_rerun_from_a_step_keeps_the_outputs_upstream_and_runs_the_rest() {
    let env = Env::start().await;
    env.apply(
        r#"
name: pipeline
on: { webhook: { path: pipeline } }
steps:
  fetch: { uses: http, with: { method: POST, url: "{upstream}/echo/fetch", json: { n: "${{ event.data.body.n }}" } } }
  load: { uses: http, needs: fetch, with: { method: POST, url: "{upstream}/echo/load", json: "${{ steps.fetch.output.body.received }}" } }
  broken: { uses: http, with: { method: POST, url: "{upstream}/status/500" } }
  after: { uses: http, needs: broken, with: { method: POST, url: "{upstream}/echo/after" } }
"#,
    )
    .await;
    let event = env.trigger("pipeline", json!({"n": 7})).await;
    let first = env.finished(&event).await;
    assert_eq!(first["status"], "failed", "{first}");
    let id = first["id"].as_str().expect("id");

    let (status, body) = post(
        &env,
        &format!("/api/v1/executions/{id}/rerun"),
        Some(json!({"from": "load"})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let rerun = env
        .finished(body["event_id"].as_str().expect("event_id"))
        .await;
    assert_eq!(Env::step(&rerun, "load")["status"], "succeeded", "{rerun}");
    assert_eq!(
        Env::step(&rerun, "fetch")["output"],
        Env::step(&first, "fetch")["output"],
        "kept"
    );
    assert_eq!(
        Env::step(&rerun, "fetch")["attempts"],
        json!([]),
        "not called again"
    );
    assert_eq!(env.upstream.seen("/echo/fetch").len(), 1);
    assert_eq!(env.upstream.seen("/echo/load").len(), 2);
    assert_eq!(env.upstream.seen("/echo/load")[1].body, json!({"n": 7}));

    let (status, body) = post(
        &env,
        &format!("/api/v1/executions/{id}/rerun"),
        Some(json!({"from": "after"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("broken"),
        "{body}"
    );
    let (status, _) = post(
        &env,
        &format!("/api/v1/executions/{id}/rerun"),
        Some(json!({"from": "nope"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(
        &env,
        &format!("/api/v1/executions/{id}/rerun"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_replayed_event_starts_its_workflow_again_linked_to_the_original() {
    let env = Env::start().await;
    env.apply(
        r#"
name: echo
on: { webhook: { path: echo }, manual: {} }
steps:
  say: { uses: http, with: { method: POST, url: "{upstream}/echo/say", json: "${{ event.data.body }}" } }
"#,
    )
    .await;
    let original = env.trigger("echo", json!({"hello": "world"})).await;
    assert_eq!(env.finished(&original).await["status"], "succeeded");
    let (status, body) = post(&env, &format!("/api/v1/events/{original}/replay"), None).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["replay_of"], original);
    let copy = body["event_id"].as_str().expect("event_id");
    assert_ne!(copy, original);
    let again = env.finished(copy).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(again["event"]["replayof"], original);
    let said: Vec<Value> = env
        .upstream
        .seen("/echo/say")
        .iter()
        .map(|s| s.body.clone())
        .collect();
    assert_eq!(said, [json!({"hello": "world"}), json!({"hello": "world"})]);

    let (status, _) = post(&env, "/api/v1/events/no-such-event/replay", None).await;
    assert_eq!(status, 404);
    let (status, run) = post(&env, "/api/v1/workflows/echo/run", Some(json!({}))).await;
    assert_eq!(status, 202, "{run}");
    let manual = run["event_id"].as_str().expect("event_id");
    let (status, body) = post(&env, &format!("/api/v1/events/{manual}/replay"), None).await;
    assert_eq!(status, 409, "{body}");
    env.finished(manual).await;
}
