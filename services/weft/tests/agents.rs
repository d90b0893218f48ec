//! The new agents end to end through the bus and the router: an HTTP step, a sandboxed `code`
//! step, a `transform` step (jq) and an HTTP step again, each consuming the one before; a
//! script's `console.log` lands in its attempt's log; a script that throws fails its step with
//! the line; a large transform output travels as an artifact reference that the next
//! transform reads back.

mod common;

use common::Env;
use serde_json::json;

#[tokio::test]
async fn http_code_transform_http_run_in_order_and_hand_data_on() {
    let env = Env::start().await;
    env.apply(
        r#"
name: chain
on: { webhook: { path: chain } }
steps:
  fetch:
    uses: http
    with: { method: POST, url: "{upstream}/echo/fetch", json: "${{ event.data.body }}" }
  score:
    needs: fetch
    uses: code
    with:
      inputs: "${{ steps.fetch.output.body.received }}"
      script: |
        const total = inputs.items.reduce((s, i) => s + i.price * i.qty, 0);
        console.log(`scored ${inputs.items.length} items`);
        return { total, skus: inputs.items.map((i) => i.sku) };
  shape:
    needs: score
    uses: transform
    with:
      input: "${{ steps.score.output }}"
      jq: '{total, count: (.skus | length), first: .skus[0]}'
  report:
    needs: shape
    uses: http
    with: { method: POST, url: "{upstream}/echo/report", json: "${{ steps.shape.output }}" }
"#,
    )
    .await;
    let body = json!({"items": [{"sku": "A", "price": 2.5, "qty": 4}, {"sku": "B", "price": 10, "qty": 1}]});
    let event_id = env.trigger("chain", body).await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let seen = env.upstream.seen("/echo/report");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, json!({"total": 20, "count": 2, "first": "A"}));
    let score = &Env::step(&done, "score")["attempts"][0];
    let lines: Vec<&str> = score["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .filter_map(|l| l["line"].as_str())
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("scored 2 items")),
        "{score}"
    );
}

#[tokio::test]
async fn a_throwing_script_fails_its_step_and_a_big_output_is_read_back_by_reference() {
    let env = Env::start().await;
    env.apply(
        r#"
name: mixed
on: { webhook: { path: mixed } }
steps:
  broken:
    uses: code
    continue_on_error: true
    with:
      script: |
        const x = 1;
        throw new Error("no luck");
  big:
    uses: transform
    with:
      input: { n: 40000 }
      jq: '[range(.n) | {i: ., label: "item number \(.)"}]'
  count:
    needs: big
    uses: transform
    with:
      input: "${{ steps.big.output }}"
      jq: 'length'
"#,
    )
    .await;
    let event_id = env.trigger("mixed", json!({})).await;
    let done = env.finished(&event_id).await;
    let broken = &Env::step(&done, "broken")["attempts"][0]["error"];
    assert_eq!(broken["code"], "script", "{broken}");
    assert!(
        broken["message"].as_str().unwrap_or("").contains("no luck"),
        "{broken}"
    );
    assert_eq!(broken["details"]["line"], 2, "{broken}");
    // The 40 000-item output is over 256 KiB: it went to the artifact store, and the next
    // transform read it back through its reference.
    let big = &Env::step(&done, "big")["attempts"][0]["output"];
    assert!(big["size"].as_u64().unwrap_or(0) > 256 * 1024, "{big}");
    assert_eq!(
        Env::step(&done, "count")["attempts"][0]["output"],
        40000,
        "{done}"
    );
}

#[tokio::test]
async fn a_literal_jq_program_that_does_not_compile_is_refused_at_apply() {
    let env = Env::start().await;
    let (status, body) = env
        .apply_raw(
            "name: badjq\non: { manual: {} }\nsteps:\n  t:\n    uses: transform\n    with:\n      input: [1, 2]\n      jq: 'map(. +'\n",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "steps.t.with.jq", "{body}");
    assert_eq!(body["line"], 8, "{body}");
    // The same program held in an expression is checked when it runs.
    env.apply(
        "name: latejq\non: { manual: {} }\nsteps:\n  t:\n    uses: transform\n    with:\n      input: [1, 2]\n      jq: '${{ inputs.program }}'\n",
    )
    .await;
}
