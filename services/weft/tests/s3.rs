//! on.s3 end to end: a real moto S3 server (checking signatures), the S3 trigger service next
//! to every Weft service in-process (real NATS, real PostgreSQL): with its keys stored as
//! secrets, an object dropped in the bucket starts exactly one execution that sees the object,
//! `GET /api/v1/triggers` shows it, and bad on.s3 configuration is refused at apply with 400.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Env;
use serde_json::{Value, json};
use weft_s3::aws_sdk_s3;
use weft_testkit::MotoServer;

/// The master key secrets are sealed under in these tests (64 hex digits).
const MASTER_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// Runs the on.s3 trigger service (resolving secrets) against `env`'s NATS until the returned
/// signal fires.
async fn start_s3_triggers(env: &Env) -> weft_runtime::Shutdown {
    let bus = weft_bus::Bus::connect(&env.nats.url, "weft-s3")
        .await
        .expect("bus");
    let shutdown = weft_runtime::Shutdown::new();
    let key = weft_secrets::MasterKey::parse(MASTER_KEY).expect("master key");
    let secrets = weft_secrets::Secrets::watch(bus.clone(), Some(Arc::new(key)), shutdown.clone());
    let service = weft_trigger::TriggerService::new(
        weft_s3::S3Source::default(),
        weft_trigger::TriggerDeps { bus, secrets },
    );
    tokio::spawn(service.run(shutdown.clone()));
    shutdown
}

fn client(endpoint: &str, key: &weft_testkit::MotoCredentials) -> aws_sdk_s3::Client {
    weft_s3::s3_client(&weft_s3::S3Settings {
        endpoint: Some(endpoint.into()),
        region: "us-east-1".into(),
        access_key_id: Some(key.access_key_id.clone()),
        secret_access_key: Some(key.secret_access_key.clone()),
    })
}

/// Stores a secret through the admin API.
async fn put_secret(env: &Env, name: &str, value: &str) {
    let resp = env
        .http
        .put(format!("{}/api/v1/secrets/{name}", env.base))
        .json(&json!({ "value": value }))
        .send()
        .await
        .expect("api answers");
    assert!(
        resp.status().is_success(),
        "PUT secret {name}: {}",
        resp.status()
    );
}

/// The ids of the S3 events stored on the bus, waiting for at least `min`.
async fn s3_event_ids(env: &Env, min: usize) -> Vec<String> {
    let client = async_nats::connect(&env.nats.url).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let subject = weft_events::subjects::EVENTS_S3;
    weft_testkit::stored_messages(&js, "WEFT_EVENTS", subject, min, Duration::from_secs(30))
        .await
        .expect("events readable")
        .iter()
        .map(|m| serde_json::from_slice::<Value>(&m.payload).expect("json"))
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test]
async fn a_dropped_object_starts_one_execution_and_is_moved() {
    let env = Env::start_with(|c| c.master_key = weft_runtime::Redacted(MASTER_KEY.into())).await;
    let moto = MotoServer::start_with_auth().await.expect("moto starts");
    let key = moto.credentials.clone().expect("an IAM key");
    put_secret(&env, "S3_KEY_ID", &key.access_key_id).await;
    put_secret(&env, "S3_SECRET", &key.secret_access_key).await;
    let s3 = client(&moto.endpoint, &key);
    s3.create_bucket()
        .bucket("inbox")
        .send()
        .await
        .expect("bucket");
    s3.put_object()
        .bucket("inbox")
        .key("in/order.csv")
        .body(b"id,total\n7,250\n".to_vec().into())
        .send()
        .await
        .expect("put");
    let stop = start_s3_triggers(&env).await;
    let yaml = format!(
        r#"name: s3-e2e
on:
  s3:
    bucket: inbox
    prefix: in/
    endpoint: {endpoint}
    access_key_id: ${{{{ secrets.S3_KEY_ID }}}}
    secret_access_key: ${{{{ secrets.S3_SECRET }}}}
    poll_interval: 1s
    after: move
    move_to: done/
if: ${{{{ event.data.key.endsWith(".csv") }}}}
steps:
  tell:
    uses: http
    with:
      method: POST
      url: "{{upstream}}/echo/s3"
      json: {{ key: "${{{{ event.data.key }}}}", size: "${{{{ event.data.size }}}}" }}
"#,
        endpoint = moto.endpoint
    );
    env.apply(&yaml).await;

    let ids = s3_event_ids(&env, 1).await;
    assert_eq!(ids.len(), 1, "{ids:?}");
    let done = env.finished(&ids[0]).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let seen = env.upstream.seen("/echo/s3");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, json!({"key": "in/order.csv", "size": 15}));

    // Moved after the event was stored; it never fires again.
    let moved = weft_testkit::wait_for(Duration::from_secs(20), || async {
        let out = s3.list_objects_v2().bucket("inbox").send().await.ok()?;
        let keys: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
        (keys == ["done/order.csv"]).then_some(())
    })
    .await;
    assert!(moved.is_ok(), "object not moved");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(s3_event_ids(&env, 1).await.len(), 1);
    assert_eq!(env.executions_for(&ids[0]).await.len(), 1);

    let triggers: Value = env
        .http
        .get(format!("{}/api/v1/triggers", env.base))
        .send()
        .await
        .expect("api answers")
        .json()
        .await
        .expect("json");
    let mine = triggers["items"]
        .as_array()
        .and_then(|items| items.iter().find(|t| t["workflow"] == json!("s3-e2e")))
        .unwrap_or_else(|| panic!("no s3-e2e trigger in {triggers}"));
    assert_eq!(mine["kind"], json!("s3"), "{mine}");
    assert_eq!(mine["state"], json!("running"), "{mine}");
    assert_eq!(
        mine["cursor"]["objects"],
        json!(0),
        "nothing pending after the move: {mine}"
    );
    assert!(
        !triggers.to_string().contains(&key.secret_access_key),
        "secret leaked: {triggers}"
    );
    stop.trigger();
}

#[tokio::test]
async fn bad_s3_configuration_is_rejected_at_apply() {
    let env = Env::start().await;
    let cases = [
        ("endpoint: localhost:9000", "on.s3.endpoint"),
        ("after: move", "on.s3.move_to"),
        ("access_key_id: only-half", "on.s3.secret_access_key"),
        ("poll_interval: 10ms", "on.s3.poll_interval"),
        ("bucket2: typo", "bucket2"),
    ];
    for (extra, field) in cases {
        let yaml = format!(
            "name: s3-bad\non:\n  s3:\n    bucket: b\n    {extra}\nsteps:\n  a: {{uses: http, with: {{url: 'http://127.0.0.1:9/'}}}}\n"
        );
        let (status, body) = env.apply_raw(&yaml).await;
        assert_eq!(status, 400, "{extra}: {body}");
        assert_eq!(body["code"], "invalid_workflow", "{extra}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{extra}: {message}");
        assert!(message.contains("line"), "{extra}: {message}");
    }
}
