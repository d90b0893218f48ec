//! An executor from outside the repository (issue 8, "the wire protocol is public"): the Python
//! example in `examples/executors/python` (nats-py, `uses: reverse`) runs as a child process
//! against the test's NATS, announces itself in the registry, has its `with:` schema enforced at
//! apply, runs steps end to end (output, attempt logs, heartbeats, a bad `with` at run time, a
//! cancel) and withdraws its registry entry on SIGTERM.
//!
//! The Python is `$WEFT_PYTHON` (exported by scripts/test), else the venv's python that
//! scripts/deps fills (`${WEFT_TOOLS:-~/.cache/weft}/venv/bin/python`, with nats-py).

mod common;

use std::{path::PathBuf, time::Duration};

use common::Env;
use serde_json::{Value, json};
use weft_testkit::ChildProcess;

const AGENT: &str = "reverse";

/// The python that imports nats-py.
fn python() -> PathBuf {
    const FIX: &str = "run scripts/deps (installs nats-py into ~/.cache/weft/venv), or set \
                       WEFT_PYTHON to a python that imports nats; scripts/test does both";
    if let Some(explicit) = std::env::var_os("WEFT_PYTHON").filter(|v| !v.is_empty()) {
        return PathBuf::from(explicit);
    }
    let tools = std::env::var_os("WEFT_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/weft")))
        .expect(FIX);
    let python = tools.join("venv/bin/python");
    assert!(python.is_file(), "no {} ({FIX})", python.display());
    python
}

/// The example executor, started against `env`'s NATS (killed when dropped).
fn start_executor(env: &Env) -> ChildProcess {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/executors/python/executor.py");
    ChildProcess::spawn(
        python(),
        [script.as_os_str()],
        [
            ("NATS_URL", env.nats.url.as_str()),
            ("PYTHONUNBUFFERED", "1"),
        ],
    )
    .expect("the python executor starts")
}

/// Wait until `GET /api/v1/agents/reverse` shows a ready replica; return the agent.
async fn wait_announced(env: &Env, executor: &mut ChildProcess) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = env.get_json(&format!("/api/v1/agents/{AGENT}")).await;
        let ready = body["replicas"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["ready"] == json!(true)));
        if status == 200 && ready {
            return body;
        }
        assert!(
            executor.is_running(),
            "the python executor exited:\n{}",
            executor.log()
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "reverse not announced in 20 s ({status} {body}); executor log:\n{}",
            executor.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn log_lines(attempt: &Value) -> Vec<String> {
    attempt["logs"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|l| l["line"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_python_executor_runs_steps_end_to_end() {
    let env = Env::start().await;
    let mut executor = start_executor(&env);
    let agent = wait_announced(&env, &mut executor).await;
    assert_eq!(agent["builtin"], false, "{agent}");
    assert_eq!(agent["version"], "0.1.0", "{agent}");
    assert_eq!(
        agent["input_schema"]["required"],
        json!(["text"]),
        "{agent}"
    );
    assert_eq!(
        agent["output_schema"]["properties"]["result"]["type"], "string",
        "{agent}"
    );

    // An outside step between an event and a built-in one. The 1.5 s attempt outlives its
    // 600 ms heartbeat timeout twice over: only the executor's heartbeats keep it alive.
    env.apply(
        "name: mirror\non: { webhook: { path: mirror } }\nsteps:\n  flip:\n    uses: reverse\n    heartbeat_timeout: 600ms\n    with: { text: '${{ event.data.body.text }}', delay_ms: 1500 }\n  tell:\n    needs: flip\n    uses: http\n    with: { method: POST, url: '{upstream}/echo/tell', json: { reversed: '${{ steps.flip.output.result }}' } }\n",
    )
    .await;
    let event_id = env
        .trigger("mirror", json!({"text": "Weft ✓ straße"}))
        .await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", executor.log());
    let flip = Env::step(&done, "flip");
    let attempts = flip["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1, "{flip}");
    assert_eq!(
        attempts[0]["output"],
        json!({"result": "eßarts ✓ tfeW"}),
        "{flip}"
    );
    assert_eq!(
        log_lines(&attempts[0]),
        ["reversing 13 characters", "waiting 1500 ms first"],
        "{flip}"
    );
    let told = env.upstream.seen("/echo/tell");
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].body, json!({"reversed": "eßarts ✓ tfeW"}));

    // A `with` that only turns out wrong at run time: a permanent `bad_input`.
    env.apply(
        "name: late-type\non: { webhook: { path: late-type } }\nsteps:\n  flip:\n    uses: reverse\n    retry: { attempts: 3, backoff: 10ms }\n    with: { text: '${{ event.data.body.n }}' }\n",
    )
    .await;
    let event_id = env.trigger("late-type", json!({"n": 5})).await;
    let done = env.finished(&event_id).await;
    let flip = Env::step(&done, "flip");
    assert_eq!(flip["status"], "failed", "{done}");
    let attempts = flip["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1, "bad_input is not retried: {flip}");
    assert_eq!(attempts[0]["error"]["code"], "bad_input", "{flip}");
    assert_eq!(
        attempts[0]["error"]["message"],
        "with.text: expected a string, got a number"
    );

    // A cancel reaches the running attempt; its result brings the log that says so.
    env.apply(
        "name: slow-flip\non: { webhook: { path: slow-flip } }\nsteps:\n  flip:\n    uses: reverse\n    with: { text: abc, delay_ms: 20000 }\n",
    )
    .await;
    let event_id = env.trigger("slow-flip", json!({})).await;
    let id = env.execution_id_of(&event_id).await;
    // Cancel once the executor runs the attempt (a cancel is not stored: one sent earlier
    // would be missed).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !executor.log().contains(" started: slow-flip/flip #1") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the attempt never started:\n{}",
            executor.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let attempt = env.cancel_and_await_log(&id, "flip").await;
    assert_eq!(attempt["status"], "cancelled", "{attempt}");
    assert!(
        log_lines(&attempt)
            .iter()
            .any(|l| l.starts_with("cancelled: ")),
        "{attempt}\n{}",
        executor.log()
    );
}

#[tokio::test]
async fn apply_checks_with_against_the_announced_schema_and_sigterm_withdraws_it() {
    let env = Env::start().await;
    // Before the executor runs, `uses: reverse` is unknown.
    let yaml = "name: flip\non: { manual: {} }\nsteps:\n  flip:\n    uses: reverse\n    with:\n      text: hello\n";
    let (status, body) = env.apply_raw(yaml).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "steps.flip.uses", "{body}");

    let mut executor = start_executor(&env);
    wait_announced(&env, &mut executor).await;
    env.apply(yaml).await;

    // An unknown field (the schema has additionalProperties: false), named with its line.
    let (status, body) = env
        .apply_raw("name: flip\non: { manual: {} }\nsteps:\n  flip:\n    uses: reverse\n    with:\n      text: hello\n      txet: typo\n")
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        (body["field"].as_str(), body["line"].as_u64()),
        (Some("steps.flip.with.txet"), Some(8)),
        "{body}"
    );
    // A required field missing, and a wrong type.
    let (status, body) = env
        .apply_raw("name: flip\non: { manual: {} }\nsteps:\n  flip:\n    uses: reverse\n    with: { delay_ms: 10 }\n")
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap_or("").contains("text"),
        "{body}"
    );
    let (status, body) = env
        .apply_raw("name: flip\non: { manual: {} }\nsteps:\n  flip:\n    uses: reverse\n    with: { text: hi, delay_ms: soon }\n")
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "steps.flip.with.delay_ms", "{body}");

    // SIGTERM: the executor deletes its registry entry and exits cleanly.
    let (status, executor) = tokio::task::spawn_blocking(move || {
        let status = executor.terminate_within(Duration::from_secs(10));
        (status, executor)
    })
    .await
    .expect("join");
    let status = status.expect("terminated");
    assert!(
        status.success(),
        "{status:?}; executor log:\n{}",
        executor.log()
    );
    assert!(
        executor.log().contains("withdrew reverse."),
        "{}",
        executor.log()
    );
    let (status, body) = env.get_json(&format!("/api/v1/agents/{AGENT}")).await;
    assert_eq!(status, 404, "no live replica is left: {body}");
}
