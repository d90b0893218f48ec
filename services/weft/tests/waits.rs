//! `wait:` steps end to end, on real NATS and PostgreSQL: each waiting run takes the event its
//! `match` picks (and it becomes the step's output); an event that arrived within the step's
//! `window` before the wait began still counts, one before a `0s` window does not and the step
//! times out. Every execution is also replayed from its journal (see `common`).

mod common;

use std::time::Duration;

use common::Env;
use serde_json::{Value, json};

/// Send one CloudEvent to `POST /events` (structured mode).
async fn send(env: &Env, id: &str, ty: &str, data: Value) {
    let event = json!({"specversion": "1.0", "id": id, "source": "mail/replies", "type": ty,
                       "subject": "reply", "data": data});
    let resp = env
        .http
        .post(format!("{}/events", env.base))
        .header("content-type", "application/cloudevents+json")
        .body(event.to_string())
        .send()
        .await
        .expect("events answers");
    assert_eq!(resp.status().as_u16(), 202, "{id}");
}

/// Wait until step `step` of execution `id` is `running`.
async fn until_running(env: &Env, id: &str, step: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while Env::step(&env.execution(id).await, step)["status"] != "running" {
        assert!(tokio::time::Instant::now() < deadline, "{step} never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const ORDER: &str = r#"
name: order-reply
on: { webhook: { path: order-reply } }
steps:
  reply:
    wait:
      type: shop.reply
      source: { prefix: "mail/" }
      match: ${{ event.data.order == execution.event.data.body.order }}
      timeout: 1m
  thank: { uses: http, needs: reply, with: { method: POST, url: "{upstream}/echo/thank", json: { text: "${{ steps.reply.output.data.text }}" } } }
"#;

#[tokio::test]
async fn each_waiting_run_takes_the_event_its_match_picks() {
    let env = Env::start().await;
    env.apply(ORDER).await;
    let seven = env.trigger("order-reply", json!({"order": 7})).await;
    let eight = env.trigger("order-reply", json!({"order": 8})).await;
    let (seven_id, eight_id) = (
        env.execution_id_of(&seven).await,
        env.execution_id_of(&eight).await,
    );
    until_running(&env, &seven_id, "reply").await;
    until_running(&env, &eight_id, "reply").await;
    send(
        &env,
        "r-other",
        "shop.other",
        json!({"order": 7, "text": "no"}),
    )
    .await;
    send(
        &env,
        "r-8",
        "shop.reply",
        json!({"order": 8, "text": "eight"}),
    )
    .await;
    let done = env.finished(&eight).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let reply = &Env::step(&done, "reply")["output"];
    assert_eq!(reply["id"], "r-8", "{reply}");
    assert_eq!(reply["type"], "shop.reply");
    assert_eq!(
        Env::step(&env.execution(&seven_id).await, "reply")["status"],
        "running",
        "order 7 still waits"
    );
    send(
        &env,
        "r-7",
        "shop.reply",
        json!({"order": 7, "text": "seven"}),
    )
    .await;
    let done = env.finished(&seven).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(Env::step(&done, "reply")["output"]["data"]["text"], "seven");
    let mut texts: Vec<Value> = env
        .upstream
        .seen("/echo/thank")
        .iter()
        .map(|s| s.body["text"].clone())
        .collect();
    texts.sort_by_key(Value::to_string);
    assert_eq!(texts, [json!("eight"), json!("seven")]);
}

#[tokio::test]
async fn an_event_before_the_wait_counts_within_the_window_only() {
    let env = Env::start().await;
    // Both runs nap first; the reply comes during the nap.
    for (name, window) in [("early", "1m"), ("strict", "0s")] {
        env.apply(&format!(
            r#"
name: {name}
on: {{ webhook: {{ path: {name} }} }}
steps:
  nap: {{ sleep: 2s }}
  reply: {{ needs: nap, wait: {{ type: shop.{name}, window: {window}, timeout: 2s }} }}
"#
        ))
        .await;
    }
    let early = env.trigger("early", json!({})).await;
    let strict = env.trigger("strict", json!({})).await;
    let (early_id, strict_id) = (
        env.execution_id_of(&early).await,
        env.execution_id_of(&strict).await,
    );
    until_running(&env, &early_id, "nap").await;
    until_running(&env, &strict_id, "nap").await;
    send(&env, "e-early", "shop.early", json!({"n": 1})).await;
    send(&env, "e-strict", "shop.strict", json!({"n": 2})).await;
    let done = env.finished(&early).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(Env::step(&done, "reply")["output"]["id"], "e-early");
    let done = env.finished(&strict).await;
    assert_eq!(done["status"], "failed", "{done}");
    let reply = Env::step(&done, "reply");
    assert_eq!(reply["status"], "timed_out", "{done}");
    assert_eq!(reply["error"]["message"], "no matching event within 2s");
}
