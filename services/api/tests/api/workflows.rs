//! Applying, reading and deleting workflows, and the registry bucket.

use serde_json::{Value, json};
use weft_events::subjects::WORKFLOWS_BUCKET;
use weft_flow::Published;

use crate::common::{self, apply_yaml, assert_error, call, hello};

async fn registry_entry(bus: &weft_bus::Bus, name: &str) -> Option<Published> {
    let kv = bus.kv(WORKFLOWS_BUCKET).await.unwrap();
    let bytes = kv.get(name).await.unwrap()?;
    Some(serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn apply_creates_then_unchanged_then_updates() {
    let env = common::env().await;
    let (s, b) = apply_yaml(&env.app, "hello", &hello("hello", "one")).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        b,
        json!({"name": "hello", "version": 1, "result": "created"})
    );

    let (s, b) = apply_yaml(&env.app, "hello", &hello("hello", "one")).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b,
        json!({"name": "hello", "version": 1, "result": "unchanged"})
    );

    let (s, b) = apply_yaml(&env.app, "hello", &hello("hello", "two")).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b,
        json!({"name": "hello", "version": 2, "result": "updated"})
    );

    let (s, b) = call(&env.app, "GET", "/api/v1/workflows/hello/versions", &[], "").await;
    assert_eq!(s, 200);
    let items = b["items"].as_array().unwrap();
    let versions: Vec<i64> = items
        .iter()
        .map(|i| i["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1]);
    assert_eq!(items[0]["digest"].as_str().unwrap().len(), 64);
    assert_ne!(items[0]["digest"], items[1]["digest"]);
    assert!(items[0]["created_at"].is_string());

    let (s, b) = call(&env.app, "GET", "/api/v1/workflows/hello", &[], "").await;
    assert_eq!(s, 200);
    assert_eq!(b["version"], 2);
    assert_eq!(b["description"], "two");
    assert_eq!(b["format"], "yaml");
    assert_eq!(b["source"], hello("hello", "two"));
    assert_eq!(b["definition"]["steps"]["greet"]["uses"], "http");
    assert!(b["created_at"].is_string() && b["updated_at"].is_string());

    let (s, b) = call(&env.app, "GET", "/api/v1/workflows", &[], "").await;
    assert_eq!(s, 200);
    assert_eq!(b["items"][0]["name"], "hello");
    assert_eq!(b["items"][0]["version"], 2);
    assert_eq!(b["items"][0]["triggers"], json!(["manual"]));

    let published = registry_entry(&env.bus, "hello")
        .await
        .expect("in the bucket");
    assert_eq!(published.version, 2);
    assert_eq!(published.workflow.description.as_deref(), Some("two"));
}

#[tokio::test]
async fn json_body_is_accepted() {
    let env = common::env().await;
    let body = json!({
        "name": "from-json",
        "on": {"webhook": {"path": "orders"}},
        "steps": {"a": {"uses": "http", "with": {"url": "http://127.0.0.1:9/"}}}
    });
    let ct = [("content-type", "application/json")];
    let (s, b) = call(
        &env.app,
        "PUT",
        "/api/v1/workflows/from-json",
        &ct,
        body.to_string(),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (_, b) = call(&env.app, "GET", "/api/v1/workflows/from-json", &[], "").await;
    assert_eq!(b["format"], "json");
    let (_, b) = call(&env.app, "GET", "/api/v1/workflows", &[], "").await;
    assert_eq!(b["items"][0]["triggers"], json!(["webhook:orders"]));
    // No content type: read as YAML, and JSON is YAML.
    let (s, b) = call(
        &env.app,
        "PUT",
        "/api/v1/workflows/from-json",
        &[],
        body.to_string(),
    )
    .await;
    assert_eq!(
        (s.as_u16(), &b["result"]),
        (200, &json!("unchanged")),
        "{b}"
    );
}

#[tokio::test]
async fn invalid_yaml_names_the_line() {
    let env = common::env().await;
    let yaml = "name: broken\ndescription: a: b\non:\n  manual: {}\nsteps: {}\n";
    let (s, b) = apply_yaml(&env.app, "broken", yaml).await;
    assert_eq!(s, 400, "{b}");
    let message = assert_error(&b, "invalid_workflow");
    assert!(message.contains("line"), "{message}");
    assert!(b["line"].is_u64(), "no line in {b}");
}

#[tokio::test]
async fn unknown_field_is_named() {
    let env = common::env().await;
    let yaml = format!("{}stepz: {{}}\n", hello("typo", "x"));
    let (s, b) = apply_yaml(&env.app, "typo", &yaml).await;
    assert_eq!(s, 400, "{b}");
    let message = assert_error(&b, "invalid_workflow");
    assert!(message.contains("stepz"), "{message}");
}

#[tokio::test]
async fn name_must_match_the_path() {
    let env = common::env().await;
    let (s, b) = apply_yaml(&env.app, "other", &hello("hello", "x")).await;
    assert_eq!(s, 409, "{b}");
    assert!(assert_error(&b, "conflict").contains("hello"));
}

#[tokio::test]
async fn unsupported_content_type_is_415() {
    let env = common::env().await;
    let ct = [("content-type", "text/plain")];
    let (s, b) = call(
        &env.app,
        "PUT",
        "/api/v1/workflows/hello",
        &ct,
        hello("hello", "x"),
    )
    .await;
    assert_eq!(s, 415, "{b}");
    assert_error(&b, "unsupported_media_type");
}

#[tokio::test]
async fn unknown_workflow_is_404_json() {
    let env = common::env().await;
    for uri in ["/api/v1/workflows/nope", "/api/v1/workflows/nope/versions"] {
        let (s, b) = call(&env.app, "GET", uri, &[], "").await;
        assert_eq!(s, 404, "{uri}");
        assert_error(&b, "not_found");
        assert_eq!(
            b.as_object().unwrap().len(),
            2,
            "only code and message: {b}"
        );
    }
    let (s, b) = call(&env.app, "PATCH", "/api/v1/workflows/nope", &[], "").await;
    assert_eq!(s, 405);
    assert_error(&b, "method_not_allowed");
    let (s, b) = call(&env.app, "DELETE", "/api/v1/workflows/nope", &[], "").await;
    assert_eq!(s, 404);
    assert_error(&b, "not_found");
}

#[tokio::test]
async fn delete_keeps_history_and_stops_triggers() {
    let env = common::env().await;
    let (s, _) = apply_yaml(&env.app, "gone", &hello("gone", "x")).await;
    assert_eq!(s, 201);
    assert!(registry_entry(&env.bus, "gone").await.is_some());

    let (s, b) = call(&env.app, "DELETE", "/api/v1/workflows/gone", &[], "").await;
    assert_eq!((s.as_u16(), b), (204, Value::Null));
    let (s, _) = call(&env.app, "GET", "/api/v1/workflows/gone", &[], "").await;
    assert_eq!(s, 404);
    let (s, b) = call(&env.app, "GET", "/api/v1/workflows/gone/versions", &[], "").await;
    assert_eq!(s, 200);
    assert_eq!(b["items"].as_array().unwrap().len(), 1);
    let (_, b) = call(&env.app, "GET", "/api/v1/workflows", &[], "").await;
    assert_eq!(b["items"], json!([]));
    assert!(
        registry_entry(&env.bus, "gone").await.is_none(),
        "key still in the bucket"
    );

    // Applying again brings it back as a new version.
    let (s, b) = apply_yaml(&env.app, "gone", &hello("gone", "x")).await;
    assert_eq!((s.as_u16(), &b["version"]), (201, &json!(2)), "{b}");
    assert_eq!(registry_entry(&env.bus, "gone").await.unwrap().version, 2);
}

#[tokio::test]
async fn sync_registry_makes_the_bucket_equal_to_the_database() {
    let env = common::env().await;
    apply_yaml(&env.app, "keep", &hello("keep", "x")).await;
    let kv = env.bus.kv(WORKFLOWS_BUCKET).await.unwrap();
    kv.delete("keep").await.unwrap();
    kv.put("ghost", b"{}".to_vec().into()).await.unwrap();

    env.api.sync_registry().await.unwrap();
    assert_eq!(registry_entry(&env.bus, "keep").await.unwrap().version, 1);
    assert!(kv.get("ghost").await.unwrap().is_none());
}

#[tokio::test]
async fn writes_wait_for_the_start_up_registry_sync_and_then_go_through() {
    let env = common::env().await;
    // A second API over the same store and bus that has not run (not synced) yet.
    let config = weft_api::ApiConfig {
        registry_wait_ms: 200,
    };
    let api = weft_api::ApiService::new(config, common::deps(&env.store, &env.bus, None));
    let app = api.router();
    let (s, b) = apply_yaml(&app, "early", &hello("early", "x")).await;
    assert_eq!(s.as_u16(), 503, "{b}");
    let message = common::assert_error(&b, "unavailable");
    assert!(message.contains("registry"), "{message}");
    assert!(
        env.store.get_workflow("early").await.unwrap().is_none(),
        "nothing was stored"
    );

    let shutdown = weft_runtime::Shutdown::new();
    let run = tokio::spawn(api.clone().run(shutdown.clone()));
    let (s, b) = apply_yaml(&app, "early", &hello("early", "x")).await;
    assert_eq!(s.as_u16(), 201, "{b}");
    shutdown.trigger();
    assert!(run.await.unwrap().is_ok(), "run ends cleanly on shutdown");
}
