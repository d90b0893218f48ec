//! `foreach` end to end, on real NATS and PostgreSQL: items run up to the step's concurrency,
//! each once, the output keeps item order; a failed item fails the step fast (or after the
//! others with `fail_fast: false`); a list that is not one fails the step; bad fields are
//! refused at apply. Every execution is also replayed from its journal (see `common`).

mod common;

use std::time::Instant;

use common::Env;
use serde_json::{Value, json};

const FAN: &str = r#"
name: fan
on: { webhook: { path: fan } }
steps:
  each:
    uses: http
    foreach: ${{ event.data.body.items }}
    concurrency: 6
    with:
      method: POST
      url: "{upstream}/delay/40/item"
      json: { index: "${{ index }}", item: "${{ item }}" }
  after:
    uses: http
    needs: each
    with: { method: POST, url: "{upstream}/echo/after", json: { n: "${{ size(steps.each.output) }}" } }
"#;

/// The most requests to `prefix` that were in progress at once.
fn peak_overlap(seen: &[common::upstream::Seen]) -> usize {
    let mut edges: Vec<(Instant, i32)> = seen
        .iter()
        .flat_map(|s| [(s.started, 1), (s.ended, -1)])
        .collect();
    edges.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut peak) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        peak = peak.max(now);
    }
    usize::try_from(peak).unwrap_or(0)
}

#[tokio::test]
async fn items_run_up_to_the_concurrency_each_once_and_the_output_keeps_item_order() {
    let env = Env::start().await;
    env.apply(FAN).await;
    let items: Vec<Value> = (0..40).map(|i| json!(format!("v{i}"))).collect();
    let event_id = env.trigger("fan", json!({"items": items})).await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let each = Env::step(&done, "each");
    assert_eq!(
        each["items"],
        json!({"total": 40, "started": 40, "succeeded": 40, "failed": 0})
    );
    let output = each["output"].as_array().expect("a list");
    let got: Vec<Value> = output
        .iter()
        .map(|o| o["body"]["received"]["item"].clone())
        .collect();
    assert_eq!(got, items, "outputs in item order");
    let seen = env.upstream.seen("/delay/40/item");
    let mut indexes: Vec<i64> = seen
        .iter()
        .map(|s| s.body["index"].as_i64().expect("index"))
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, (0..40).collect::<Vec<_>>(), "each item once");
    let peak = peak_overlap(&seen);
    assert!(
        (2..=6).contains(&peak),
        "at most 6 at once, and more than one: {peak}"
    );
    let after = env.upstream.seen("/echo/after");
    assert_eq!(after[0].body["n"], 40);
}

#[tokio::test]
async fn a_failed_item_fails_the_step_at_once_and_later_items_never_start() {
    let env = Env::start().await;
    env.apply(
        r#"
name: fast
on: { webhook: { path: fast } }
steps:
  each:
    uses: http
    foreach: ${{ event.data.body.codes }}
    with: { url: "{upstream}/status/${{ item }}" }
"#,
    )
    .await;
    let event_id = env
        .trigger("fast", json!({"codes": [200, 200, 404, 200, 200]}))
        .await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "failed", "{done}");
    let each = Env::step(&done, "each");
    assert_eq!(each["status"], "failed");
    assert_eq!(each["error"]["code"], "item_failed", "{each}");
    assert_eq!(each["error"]["index"], 2, "{each}");
    assert_eq!(each["items"]["started"], 3, "{each}");
    assert_eq!(
        env.upstream.seen("/status/").len(),
        3,
        "items 3 and 4 never ran"
    );
}

#[tokio::test]
async fn without_fail_fast_every_item_runs_and_the_output_has_null_for_the_failed() {
    let env = Env::start().await;
    env.apply(
        r#"
name: all
on: { webhook: { path: all } }
steps:
  each:
    uses: http
    foreach: ${{ event.data.body.codes }}
    concurrency: 2
    fail_fast: false
    with: { url: "{upstream}/status/${{ item }}" }
"#,
    )
    .await;
    let event_id = env.trigger("all", json!({"codes": [200, 404, 200]})).await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "failed", "{done}");
    let each = Env::step(&done, "each");
    assert_eq!(each["error"]["code"], "items_failed", "{each}");
    let output = each["output"].as_array().expect("a list");
    assert_eq!(output.len(), 3);
    assert!(output[1].is_null() && !output[0].is_null() && !output[2].is_null());
    assert_eq!(env.upstream.seen("/status/").len(), 3);

    // The items, a page at a time, and only the failed ones.
    let id = done["id"].as_str().expect("id");
    let items = format!("/api/v1/executions/{id}/steps/each/items");
    let (status, page) = env.get_json(&format!("{items}?limit=2")).await;
    assert_eq!(status, 200, "{page}");
    let indexes: Vec<&Value> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| &i["index"])
        .collect();
    assert_eq!(indexes, [&json!(0), &json!(1)]);
    assert_eq!(page["items"][1]["item"], 404);
    assert_eq!(page["items"][1]["status"], "failed");
    assert_eq!(page["items"][0]["output"]["status"], 200);
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let (_, rest) = env
        .get_json(&format!("{items}?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(rest["items"][0]["index"], 2);
    assert_eq!(rest["next_cursor"], Value::Null);
    let (_, failed) = env.get_json(&format!("{items}?status=failed")).await;
    assert_eq!(
        failed["items"].as_array().map(Vec::len),
        Some(1),
        "{failed}"
    );
    let (status, _) = env
        .get_json(&format!("/api/v1/executions/{id}/steps/nope/items"))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_foreach_over_a_non_list_fails_the_step_and_bad_fields_are_refused_at_apply() {
    let env = Env::start().await;
    env.apply(
        r#"
name: odd
on: { webhook: { path: odd } }
steps:
  each: { uses: http, foreach: "${{ event.data }}", with: { url: "{upstream}/echo/x" } }
"#,
    )
    .await;
    let event_id = env.trigger("odd", json!({"not": "a list"})).await;
    let done = env.finished(&event_id).await;
    let each = Env::step(&done, "each");
    assert_eq!(each["error"]["code"], "bad_input", "{each}");
    assert_eq!(
        each["error"]["message"],
        "`foreach` must give a list, got an object"
    );

    let (status, body) = env
        .apply_raw(
            "name: bad\non: { webhook: { path: bad } }\nsteps:\n  s:\n    uses: http\n    concurrency: 3\n",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "steps.s.concurrency", "{body}");
    assert_eq!(body["line"], 6, "{body}");
    let (status, body) = env
        .apply_raw(
            "name: bad\non: { webhook: { path: bad } }\nsteps:\n  s: { sleep: 1s, foreach: \"${{ event.data }}\" }\n",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "steps.s.foreach", "{body}");
}

const BIG: &str = r#"
name: big
on: { webhook: { path: big } }
steps:
  each:
    uses: http
    foreach: ${{ event.data.body.items }}
    concurrency: 8
    with:
      method: POST
      url: "{upstream}/echo/big"
      json: { index: "${{ index }}", pad: "${{ event.data.body.pad }}" }
  count:
    uses: transform
    needs: each
    with:
      input: "${{ steps.each.output }}"
      jq: '{n: length, seventh: .[7].body.received.index}'
"#;

#[tokio::test]
async fn a_large_output_is_stored_as_an_artifact_that_later_steps_read() {
    let env = Env::start().await;
    env.apply(BIG).await;
    // 40 outputs of about 9 KB each: a list over the 256 KiB kept in the step row.
    let pad = "x".repeat(9000);
    let items: Vec<u32> = (0..40).collect();
    let event_id = env
        .trigger("big", json!({"items": items, "pad": pad}))
        .await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let output = &Env::step(&done, "each")["output"];
    let head: String = output.to_string().chars().take(300).collect();
    assert_eq!(output["name"], "each.output.json", "a reference: {head}");
    assert_eq!(output["content_type"], "application/json");
    let reference: weft_executor::ArtifactRef =
        serde_json::from_value(output.clone()).expect("an artifact reference");
    assert!(reference.size > 256 * 1024, "{reference:?}");
    let bytes = env.artifacts().await.get(&reference).await.expect("stored");
    let list: Vec<Value> = serde_json::from_slice(&bytes).expect("a JSON list");
    let got: Vec<Value> = list
        .iter()
        .map(|o| o["body"]["received"]["index"].clone())
        .collect();
    assert_eq!(
        got,
        (0..40).map(|i| json!(i)).collect::<Vec<_>>(),
        "item order"
    );
    assert_eq!(list[3]["body"]["received"]["pad"], pad.as_str());
    let count = &Env::step(&done, "count")["output"];
    assert_eq!(
        *count,
        json!({"n": 40, "seventh": 7}),
        "read by the next step"
    );
}
