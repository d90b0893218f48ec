//! The executor platform end to end (issue 8): the agent registry and apply-time checks of
//! `uses:`/`with:`, outputs moved to the artifact store, tasks too big for the bus, cancels that
//! reach a running attempt, heartbeat timeouts, and attempt logs.

mod common;

use std::time::Duration;

use common::Env;
use serde_json::{Value, json};
use weft_events::ArtifactRef;

#[tokio::test]
async fn agents_are_listed_and_apply_checks_uses_and_with() {
    let env = Env::start().await;
    // The http executor hosted here announces itself (right at start).
    let mut http = Value::Null;
    for _ in 0..100 {
        let (status, body) = env.get_json("/api/v1/agents/http").await;
        assert_eq!(status, 200, "{body}");
        if body["replicas"].as_array().is_some_and(|r| !r.is_empty()) {
            http = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(http["builtin"], true, "{http}");
    assert_eq!(http["replicas"][0]["ready"], true, "{http}");
    assert_eq!(http["input_schema"]["properties"]["url"]["type"], "string");
    let (status, list) = env.get_json("/api/v1/agents").await;
    assert_eq!(status, 200);
    assert!(
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|a| a["name"] == "http"),
        "{list}"
    );
    let (status, missing) = env.get_json("/api/v1/agents/nope").await;
    assert_eq!(
        (status, missing["code"].as_str()),
        (404, Some("not_found")),
        "{missing}"
    );

    let (status, body) = env
        .apply_raw("name: ghosts\non: { manual: {} }\nsteps:\n  a:\n    uses: ghost\n")
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        (body["line"].as_u64(), body["field"].as_str()),
        (Some(5), Some("steps.a.uses"))
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("unknown agent `ghost`"),
        "{body}"
    );

    let (status, body) = env
        .apply_raw(
            "name: typo\non: { manual: {} }\nsteps:\n  a:\n    uses: http\n    with:\n      url: http://127.0.0.1:9/\n      timeuot: 5s\n",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["line"].as_u64(), Some(8), "{body}");
    assert!(
        body["message"].as_str().unwrap_or("").contains("timeuot"),
        "{body}"
    );

    // Expressions are checked at run time, not at apply.
    env.apply(
        "name: late\non: { manual: {} }\nsteps:\n  a:\n    uses: http\n    with:\n      url: '${{ inputs.url }}'\n      follow_redirects: '${{ inputs.follow }}'\n",
    )
    .await;
}

#[tokio::test]
async fn a_large_output_becomes_an_artifact_reference() {
    let env = Env::start().await;
    env.apply(
        "name: big\non: { webhook: { path: big } }\nsteps:\n  fetch:\n    uses: http\n    with: { url: '{upstream}/big/400000' }\n  small:\n    needs: fetch\n    uses: http\n    with: { method: POST, url: '{upstream}/echo/ref', json: '${{ steps.fetch.output }}' }\n",
    )
    .await;
    let event_id = env.trigger("big", json!({})).await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let output = &Env::step(&done, "fetch")["attempts"][0]["output"];
    let reference: ArtifactRef = serde_json::from_value(output.clone()).expect("a reference");
    assert!(reference.size > 400_000, "{reference:?}");
    assert_eq!(reference.content_type, "application/json");
    assert_eq!(reference.name, "fetch.output.json");
    // Expressions read the reference like any object.
    let seen = env.upstream.seen("/echo/ref");
    assert_eq!(seen[0].body["sha256"], reference.sha256.as_str());
    // The bytes are in the store, and they are the response.
    let nats = async_nats::connect(&env.nats.url).await.expect("nats");
    let js = async_nats::jetstream::new(nats);
    let store = js
        .get_object_store(weft_events::subjects::ARTIFACTS_BUCKET)
        .await
        .expect("artifact bucket");
    let mut object = store.get(reference.id.as_str()).await.expect("object");
    let mut bytes = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut object, &mut bytes)
        .await
        .expect("read");
    let stored: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(stored["body"]["data"].as_str().map(str::len), Some(400_000));
}

#[tokio::test]
async fn a_task_too_big_for_the_bus_fails_its_step_instead_of_hanging() {
    let env = Env::start().await;
    env.apply(
        "name: huge\non: { manual: { inputs: { blob: { type: string } } } }\nsteps:\n  send:\n    uses: http\n    with: { method: POST, url: '{upstream}/echo/huge', json: { a: '${{ inputs.blob }}', b: '${{ inputs.blob }}' } }\n",
    )
    .await;
    let resp = env
        .http
        .post(format!("{}/api/v1/workflows/huge/run", env.base))
        .json(&json!({"inputs": {"blob": "y".repeat(700_000)}}))
        .send()
        .await
        .expect("run");
    assert_eq!(resp.status().as_u16(), 202);
    let run: Value = resp.json().await.expect("json");
    let id = run["execution_id"]
        .as_str()
        .expect("execution id")
        .to_string();
    let mut done = Value::Null;
    for _ in 0..200 {
        done = env.execution(&id).await;
        if done["status"] != "running" && done["status"] != "queued" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        done["status"],
        "failed",
        "{}",
        &done.to_string()[..500.min(done.to_string().len())]
    );
    let step = Env::step(&done, "send");
    assert_eq!(
        step["attempts"][0]["error"]["code"], "payload_too_large",
        "{}",
        step["attempts"][0]["error"]
    );
    assert!(env.upstream.seen("/echo/huge").is_empty());
}

#[tokio::test]
async fn a_cancel_stops_the_running_attempt_and_its_log_says_so() {
    let env = Env::start().await;
    env.apply(
        "name: long\non: { webhook: { path: long } }\nsteps:\n  wait:\n    uses: http\n    with: { method: POST, url: '{upstream}/slow/4000' }\n",
    )
    .await;
    let event_id = env.trigger("long", json!({})).await;
    let id = env.execution_id_of(&event_id).await;
    // Let the attempt reach the upstream.
    tokio::time::sleep(Duration::from_millis(700)).await;
    // The attempt stops within a second: its result (a `cancelled` failure, ignored by the
    // router since the attempt already ended) brings its log.
    let attempt = env.cancel_and_await_log(&id, "wait").await;
    assert_eq!(attempt["status"], "cancelled", "{attempt}");
    let logs = attempt["logs"].as_array().expect("logs").clone();
    assert!(
        logs.iter()
            .any(|l| l["line"].as_str().unwrap_or("").contains("cancelled")),
        "{attempt}"
    );
    // The call was dropped: it never completes.
    tokio::time::sleep(Duration::from_millis(3800)).await;
    assert!(
        env.upstream.seen("/slow/4000").is_empty(),
        "the cancelled call ran on"
    );
}

#[tokio::test]
async fn a_silent_attempt_times_out_on_its_heartbeat_and_a_live_one_does_not() {
    let env = Env::start().await;
    // An agent that announced itself and then went away: nobody runs its tasks.
    let bus = weft_bus::Bus::connect(&env.nats.url, "test")
        .await
        .expect("bus");
    let store = weft_executor::registry::bucket(&bus)
        .await
        .expect("registry");
    let mut ghost = weft_executor::announcement::<weft_exec_http::HttpExecutor>("gone");
    ghost.name = "ghost".into();
    ghost.input_schema = json!({"type": "object"});
    weft_executor::registry::announce(&store, &ghost)
        .await
        .expect("announce");
    env.apply(
        "name: beats\non: { webhook: { path: beats } }\nsteps:\n  silent:\n    uses: ghost\n    heartbeat_timeout: 600ms\n    retry: { attempts: 2, backoff: 10ms }\n  alive:\n    uses: http\n    heartbeat_timeout: 600ms\n    with: { method: POST, url: '{upstream}/slow/2000' }\n",
    )
    .await;
    let event_id = env.trigger("beats", json!({})).await;
    let done = env.finished(&event_id).await;
    let silent = Env::step(&done, "silent");
    assert_eq!(silent["status"], "timed_out", "{done}");
    let attempts = silent["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "retried per its policy: {silent}");
    assert!(
        attempts[0]["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("no heartbeat"),
        "{silent}"
    );
    // The http attempt ran 2 s, three heartbeat periods, and succeeded.
    assert_eq!(Env::step(&done, "alive")["status"], "succeeded", "{done}");
}

#[tokio::test]
async fn an_execution_output_too_big_for_the_bus_is_left_out_of_its_lifecycle_event() {
    let env = Env::start().await;
    // Five outputs of ~240 KB each stay inline (under 256 KiB), but together they are over the
    // bus's 1 MiB: the `succeeded` event must still be published, without the output.
    let mut yaml = "name: wide\non: { webhook: { path: wide } }\nsteps:\n".to_string();
    for i in 0..5 {
        yaml.push_str(&format!(
            "  s{i}:\n    uses: http\n    with: {{ url: '{{upstream}}/big/240000' }}\n"
        ));
    }
    env.apply(&yaml).await;
    let event_id = env.trigger("wide", json!({})).await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "succeeded");
    let id = done["id"].as_str().expect("id").to_string();
    let mut events = Vec::new();
    for _ in 0..40 {
        events = common::lifecycle_events(&env, &id).await;
        if events
            .iter()
            .any(|e| e["type"] == "dev.weft.execution.succeeded")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let succeeded = events
        .iter()
        .find(|e| e["type"] == "dev.weft.execution.succeeded")
        .expect("the succeeded event was published");
    assert_eq!(succeeded["data"]["output"], Value::Null);
    assert_eq!(
        succeeded["data"]["output_omitted"]["reason"],
        "output_too_large"
    );
}

#[tokio::test]
async fn artifacts_go_to_s3_when_a_bucket_is_configured() {
    let moto = weft_testkit::MotoServer::start_with_auth()
        .await
        .expect("moto starts");
    let key = moto.credentials.clone().expect("an IAM key");
    let endpoint = moto.endpoint.clone();
    let s3 = weft_s3::s3_client(&weft_s3::S3Settings {
        endpoint: Some(endpoint.clone()),
        region: "us-east-1".into(),
        access_key_id: Some(key.access_key_id.clone()),
        secret_access_key: Some(key.secret_access_key.clone()),
    });
    s3.create_bucket()
        .bucket("blobs")
        .send()
        .await
        .expect("bucket");
    let env = Env::start_with(|c| {
        c.artifacts_s3_bucket = "blobs".into();
        c.artifacts_s3_endpoint = endpoint.clone();
        c.artifacts_s3_access_key_id = key.access_key_id.clone();
        c.artifacts_s3_secret_access_key = weft_runtime::Redacted(key.secret_access_key.clone());
    })
    .await;
    env.apply(
        "name: big\non: { webhook: { path: big } }\nsteps:\n  fetch:\n    uses: http\n    with: { url: '{upstream}/big/300000' }\n  count:\n    needs: fetch\n    uses: transform\n    with: { input: '${{ steps.fetch.output }}', jq: '.body.data | length' }\n",
    )
    .await;
    let event_id = env.trigger("big", json!({})).await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let reference: ArtifactRef =
        serde_json::from_value(Env::step(&done, "fetch")["attempts"][0]["output"].clone())
            .expect("a reference");
    // The object is in the bucket, and the next step read it back from there.
    let key_name = format!(
        "weft/artifacts/sha256/{}/{}",
        &reference.id[..2],
        reference.id
    );
    let object = s3
        .get_object()
        .bucket("blobs")
        .key(&key_name)
        .send()
        .await
        .expect("object");
    let bytes = object.body.collect().await.expect("body").into_bytes();
    assert_eq!(bytes.len() as u64, reference.size);
    assert_eq!(Env::step(&done, "count")["attempts"][0]["output"], 300000);
}

#[tokio::test]
async fn tasks_of_an_executor_in_the_routers_process_run_there_without_the_bus() {
    let env = Env::start().await;
    let yaml = r#"
name: local
on: { webhook: { path: local } }
steps:
  one: { uses: http, with: { method: POST, url: "{upstream}/echo/one", json: "${{ event.data.body }}" } }
  two: { needs: one, uses: http, with: { method: POST, url: "{upstream}/echo/two", json: "${{ steps.one.output.body.received }}" } }
"#
    .replace("{upstream}", &env.upstream.base);
    env.apply(&yaml).await;
    let event = env.trigger("local", json!({"n": 7})).await;
    let done = env.finished(&event).await;
    assert_eq!(done["status"], "succeeded", "{}", done["status"]);
    let two = Env::step(&done, "two");
    assert_eq!(two["output"]["body"]["received"], json!({"n": 7}), "{two}");
    // Both steps ran here: not one task crossed the bus.
    assert_eq!(common::tasks_published(&env.nats).await, 0);
    // Their leased outbox rows went with their results.
    common::outbox_drained(&env.db).await;
}
