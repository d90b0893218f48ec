//! Default time limits end to end, with a router whose defaults are short (its own settings,
//! so Weft runs as separate processes): attempts of steps without `timeout` (an HTTP call, a
//! `call` of a sleeping workflow) are timed out at the default step timeout, a step with its
//! own `timeout` is not, and a run without `timeout` ends `timed_out` at the default; the
//! journals replay to the state.

mod common;

use std::time::Duration;

use common::procs::{Stack, step};
use serde_json::json;

#[tokio::test]
async fn default_limits_time_out_what_sets_none() {
    let stack = Stack::start_with(vec![
        ("WEFT_ROUTER_DEFAULT_STEP_TIMEOUT_MS", "1500"),
        ("WEFT_ROUTER_DEFAULT_TIMEOUT_MS", "4000"),
        ("WEFT_ROUTER_LIMIT_SWEEP_MS", "100"),
    ])
    .await;
    stack
        .apply(
            "nap",
            "name: nap\non: { webhook: { path: nap } }\nsteps:\n  z: { sleep: 1h }\n",
        )
        .await;
    stack
        .apply(
            "slow",
            r#"
name: slow
on: { webhook: { path: slow } }
steps:
  bare: { uses: http, with: { method: POST, url: "{upstream}/delay/3000/bare" } }
  call: { call: nap }
  own: { uses: http, timeout: 10s, with: { method: POST, url: "{upstream}/delay/2500/own" } }
"#,
        )
        .await;
    let slow = stack.hook("slow", json!({})).await;
    let nap = stack.hook("nap", json!({})).await;

    let detail = stack.ended(&slow, Duration::from_secs(30)).await;
    assert_eq!(detail["status"], "failed", "{detail}");
    // The HTTP executor got the default with its task (it may stop first, or the sweep).
    assert_eq!(step(&detail, "bare")["status"], "timed_out", "{detail}");
    // A child run sends no result before it ends: only the sweep ends the `call` attempt.
    let call = step(&detail, "call");
    assert_eq!(call["status"], "timed_out", "{detail}");
    assert_eq!(call["error"]["message"], "no result within 1s 500ms");
    assert_eq!(step(&detail, "own")["status"], "succeeded", "{detail}");
    stack.replays(detail["id"].as_str().expect("id")).await;

    let detail = stack.ended(&nap, Duration::from_secs(30)).await;
    assert_eq!(detail["status"], "timed_out", "{detail}");
    assert_eq!(
        detail["error"]["message"],
        "execution did not finish within 4s"
    );
    stack.replays(detail["id"].as_str().expect("id")).await;
}
