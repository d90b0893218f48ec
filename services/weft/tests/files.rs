//! `on.file` end to end: a file dropped into a watched folder starts exactly one execution
//! (all services in one process, real NATS and PostgreSQL); bad `on.file` configs are
//! refused at apply with a 400 naming the field.

mod common;

use std::time::Duration;

use common::Env;
use serde_json::Value;

#[tokio::test]
async fn a_dropped_file_starts_one_execution_with_its_data() {
    let env = Env::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let inbox = dir.path().join("inbox");
    let done = dir.path().join("done");
    std::fs::create_dir(&inbox).expect("mkdir");
    let yaml = format!(
        "name: inbox
on:
  file: {{ path: '{}', glob: '*.csv', after: move, move_to: '{}' }}
steps:
  tell:
    uses: http
    with:
      method: POST
      url: '{{upstream}}/echo/files'
      json: {{ name: '${{{{ event.data.name }}}}', size: '${{{{ event.data.size }}}}', at: '${{{{ event.data.moved_to }}}}' }}
",
        inbox.display(),
        done.display()
    );
    env.apply(&yaml).await;
    // The trigger watches once its health shows a saved cursor.
    wait_watching(&env, "inbox").await;

    std::fs::write(inbox.join("orders.csv"), "id,total\n7,250\n").expect("write");
    let execution = wait_one_execution(&env, "inbox").await;
    let event_id = execution["event_id"]
        .as_str()
        .expect("event id")
        .to_string();
    let detail = env.finished(&event_id).await;
    assert_eq!(detail["status"], "succeeded", "{detail}");
    let seen = env.upstream.seen("/echo/files");
    let sent = seen.last().expect("upstream called");
    assert_eq!(sent.body["name"], "orders.csv", "{detail}");
    assert_eq!(sent.body["size"], 15);
    assert_eq!(
        sent.body["at"],
        done.join("orders.csv").to_string_lossy().as_ref()
    );
    assert!(done.join("orders.csv").exists() && !inbox.join("orders.csv").exists());

    // Still exactly one execution a moment later.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(env.executions_of("inbox").await.len(), 1);
}

#[tokio::test]
async fn bad_file_configs_are_refused_at_apply() {
    let env = Env::start().await;
    for (on_file, field) in [
        ("{ path: relative/in }", "on.file.path"),
        ("{ path: /in, glob: 'a[b' }", "on.file.glob"),
        ("{ path: /in, after: move }", "on.file.move_to"),
        (
            "[{ path: /a }, { path: /in, recursive: true, after: move, move_to: /in/done }]",
            "on.file[1].move_to",
        ),
    ] {
        let yaml = format!(
            "name: bad\non:\n  file: {on_file}\nsteps:\n  s:\n    uses: http\n    with: {{ url: 'http://127.0.0.1:9/' }}\n"
        );
        let (status, body) = env.apply_raw(&yaml).await;
        assert_eq!(status, 400, "{on_file}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(field),
            "{on_file}: `{field}` not in {body}"
        );
    }
}

async fn wait_watching(env: &Env, workflow: &str) {
    let kv = weft_testkit_kv(env).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(bytes)) = kv.get(format!("{workflow}.file.0")).await {
            let h: Value = serde_json::from_slice(&bytes).expect("health json");
            if h["state"] == "running" && h["cursor"].is_object() {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "trigger of {workflow} never watched"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn weft_testkit_kv(env: &Env) -> async_nats::jetstream::kv::Store {
    let client = async_nats::connect(&env.nats.url).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    js.get_key_value(weft_events::subjects::TRIGGERS_BUCKET)
        .await
        .expect("triggers bucket")
}

async fn wait_one_execution(env: &Env, workflow: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(e) = env.executions_of(workflow).await.first() {
            return e.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no execution of {workflow}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
