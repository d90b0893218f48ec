//! Hostile input end to end: expensive expressions fail their own executions without holding up
//! other workflows, and text PostgreSQL cannot store never loses an accepted event or result.

mod common;

use std::time::{Duration, Instant};

use common::Env;
use serde_json::{Value, json};

/// Four nested `all()` over the 100 items the event brings: 10^8 iterations unbudgeted.
const HEAVY: &str = r#"
name: heavy
on: { webhook: { path: heavy } }
if: ${{ event.data.body.l.all(a, event.data.body.l.all(b, event.data.body.l.all(c, event.data.body.l.all(d, a + b + c + d >= 0)))) }}
steps:
  never: { uses: http, with: { url: "{upstream}/echo/never" } }
"#;

const LIGHT: &str = r#"
name: light
on: { webhook: { path: light } }
if: ${{ event.data.body.n >= 0 }}
steps:
  call: { uses: http, with: { url: "{upstream}/echo/light" } }
"#;

/// Trigger `light` and wait for its execution to end; the time it took.
async fn light_run(env: &Env, n: i64) -> Duration {
    let started = Instant::now();
    let id = env.trigger("light", json!({ "n": n })).await;
    let done = env.finished(&id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    started.elapsed()
}

/// The usual latency of `light`; then 60 events to `path` sent at once, and `light` again while
/// they are handled: asserts it keeps its usual latency and the service stays ready. The ids of
/// the flood's events.
async fn flood_while_light_routes(
    env: &Env,
    path: &str,
    body: impl Fn(i64) -> Value,
) -> Vec<String> {
    let mut usual = Duration::ZERO;
    for n in 0..5 {
        usual = usual.max(light_run(env, n).await);
    }
    let flood = (0..60).map(|i| env.trigger(path, body(i)));
    let heavy_ids = futures::future::join_all(flood).await;
    let mut during = Duration::ZERO;
    for n in 0..5 {
        during = during.max(light_run(env, 100 + n).await);
    }
    let bound = (usual * 4).max(Duration::from_millis(1500));
    assert!(
        during < bound,
        "light runs took up to {during:?} during the flood (usual {usual:?})"
    );
    let ready = env
        .http
        .get(format!("{}/readyz", env.base))
        .send()
        .await
        .expect("readyz answers");
    let status = ready.status().as_u16();
    let body = ready.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{body}");
    heavy_ids
}

#[tokio::test]
async fn a_flood_of_expensive_filters_fails_its_own_runs_and_others_keep_routing() {
    let env = Env::start().await;
    env.apply(HEAVY).await;
    env.apply(LIGHT).await;
    let items: Vec<i64> = (0..100).collect();
    // 60 × ~250 ms of budget on the slow lane, far more than the light runs take.
    let heavy_ids =
        flood_while_light_routes(&env, "heavy", |i| json!({ "l": items, "i": i })).await;

    // Every heavy event is handled: its execution failed with expression_limit, once.
    for id in &heavy_ids {
        let done = env.finished(id).await;
        assert_eq!(done["status"], "failed", "{done}");
        assert_eq!(done["error"]["code"], "expression_limit", "{done}");
        assert_eq!(env.executions_for(id).await.len(), 1);
    }
    assert!(env.upstream.seen("/echo/never").is_empty());
}

/// Eight nested `map()` over the event's ten items in a step's `with`: 10^8 iterations
/// unbudgeted, rendered while the router holds the execution's transaction.
const HEAVY_STEP: &str = r#"
name: heavy-step
on: { webhook: { path: heavy-step } }
steps:
  big:
    uses: http
    with:
      url: "{upstream}/echo/big"
      json: ${{ event.data.body.t.map(a, event.data.body.t.map(b, event.data.body.t.map(c, event.data.body.t.map(d, event.data.body.t.map(e, event.data.body.t.map(f, event.data.body.t.map(g, event.data.body.t.map(h, h)))))))) }}
"#;

#[tokio::test]
async fn a_flood_of_expensive_step_templates_fails_its_own_steps_and_others_keep_routing() {
    let env = Env::start().await;
    env.apply(HEAVY_STEP).await;
    env.apply(LIGHT).await;
    let ten: Vec<i64> = (0..10).collect();
    let heavy_ids =
        flood_while_light_routes(&env, "heavy-step", |i| json!({ "t": ten, "i": i })).await;
    for id in &heavy_ids {
        let done = env.finished(id).await;
        assert_eq!(done["status"], "failed", "{done}");
        assert_eq!(done["error"]["cause"]["code"], "expression_limit", "{done}");
    }
    assert!(env.upstream.seen("/echo/big").is_empty());
}

#[tokio::test]
async fn an_expensive_step_template_fails_the_step_with_expression_limit() {
    let env = Env::start().await;
    env.apply(
        r#"
name: blowup
on: { webhook: { path: blowup } }
steps:
  big:
    uses: http
    with:
      url: "{upstream}/echo/big"
      json: ${{ event.data.body.t.map(a, event.data.body.t.map(b, event.data.body.t.map(c, event.data.body.t.map(d, event.data.body.t.map(e, event.data.body.t.map(f, event.data.body.t.map(g, event.data.body.t.map(h, h)))))))) }}
"#,
    )
    .await;
    let ten: Vec<i64> = (0..10).collect();
    let id = env.trigger("blowup", json!({ "t": ten })).await;
    let done = env.finished(&id).await;
    assert_eq!(done["status"], "failed", "{done}");
    let step = Env::step(&done, "big");
    assert_eq!(step["status"], "failed", "{step}");
    assert_eq!(done["error"]["cause"]["code"], "expression_limit", "{done}");
    assert!(env.upstream.seen("/echo/big").is_empty());
}

#[tokio::test]
async fn an_oversized_expression_is_refused_at_apply_with_line_and_field() {
    let env = Env::start().await;
    let chain = vec!["1"; 20_000].join("+");
    let yaml = format!(
        "name: chain\non: {{ webhook: {{ path: chain }} }}\nif: ${{{{ {chain} > 0 }}}}\nsteps:\n  a: {{ uses: http, with: {{ url: \"{{upstream}}/echo/a\" }} }}\n"
    );
    let (status, body) = env.apply_raw(&yaml).await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("line 3"), "{message}");
    assert!(message.contains("over a limit"), "{message}");
    // The process is still up.
    let (status, _) = env.apply_raw(LIGHT).await;
    assert!(status == 200 || status == 201);
}

#[tokio::test]
async fn text_postgres_cannot_store_is_kept_with_a_replacement_character() {
    let env = Env::start().await;
    env.apply(
        r#"
name: nul
on: { event: { type: com.example.nul } }
steps:
  fetch: { uses: http, with: { url: "{upstream}/nul" } }
"#,
    )
    .await;
    // As a trigger service without an HTTP door (mail, files) would publish it.
    let bus = weft_bus::Bus::connect(&env.nats.url, "test")
        .await
        .expect("bus");
    let event = weft_events::new_event(
        "nul-1",
        "com.example.nul",
        "test/nul",
        None,
        json!({"s": "a\u{0}b", "k\u{0}": ["\u{0}"]}),
    );
    bus.publish_event(weft_events::subjects::EVENTS_EXTERNAL, &event)
        .await
        .expect("published");
    let done = env.finished("nul-1").await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let data = &done["event"]["data"];
    assert_eq!(data["s"], json!("a\u{FFFD}b"), "{done}");
    assert_eq!(data["k\u{FFFD}"], json!(["\u{FFFD}"]), "{done}");
    // The step's result held U+0000 too (the upstream's answer).
    let step = Env::step(&done, "fetch");
    let output: &Value = &step["attempts"][0]["output"];
    assert_eq!(output["body"]["s"], json!("a\u{FFFD}b"), "{step}");
    assert_eq!(output["body"]["k\u{FFFD}"], json!(1), "{step}");
}
