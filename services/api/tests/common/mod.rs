//! Test support: the API built over a real `nats-server -js` and a fresh PostgreSQL database,
//! both from `weft-testkit` (stopped by PID and dropped when the [`Env`] is dropped).
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use serde_json::Value;
use tower::ServiceExt;
use weft_api::ApiService;
use weft_bus::Bus;
use weft_store::Store;
use weft_testkit::{NatsServer, TestDb};

/// Everything a test needs.
pub struct Env {
    pub store: Store,
    pub bus: Bus,
    pub api: ApiService,
    pub app: Router,
    /// Stops the API's run (its registry sync).
    pub shutdown: weft_runtime::Shutdown,
    // Dropped last: the server and the database outlive the clients above.
    pub nats: NatsServer,
    pub db: TestDb,
}

pub async fn env() -> Env {
    let nats = NatsServer::start().await.unwrap();
    let db = TestDb::create().await.unwrap();
    let store = Store::connect(&db.url, 5).await.unwrap();
    store.migrate().await.unwrap();
    let bus = connect_bus(&nats.url).await;
    let key =
        weft_secrets::MasterKey::parse(&weft_secrets::MasterKey::generate().unwrap()).unwrap();
    let api = ApiService::new(
        weft_api::ApiConfig::default(),
        deps(&store, &bus, Some(std::sync::Arc::new(key))),
    );
    let shutdown = weft_runtime::Shutdown::new();
    tokio::spawn(api.clone().run(shutdown.clone()));
    let app = api.router();
    Env {
        store,
        bus,
        api,
        app,
        shutdown,
        nats,
        db,
    }
}

/// The API's dependencies over this store and bus, without agent checks.
pub fn deps(
    store: &Store,
    bus: &Bus,
    master_key: Option<std::sync::Arc<weft_secrets::MasterKey>>,
) -> weft_api::ApiDeps {
    weft_api::ApiDeps {
        store: store.clone(),
        bus: bus.clone(),
        master_key,
        checks: Vec::new(),
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

async fn connect_bus(url: &str) -> Bus {
    let mut last = String::new();
    for _ in 0..100 {
        match Bus::connect(url, "weft-api-test").await {
            Ok(bus) => match bus.ensure_streams().await {
                Ok(()) => return bus,
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("NATS at {url} never came up: {last}");
}

/// Send a request; the answer's status and JSON body (`Null` when empty).
pub async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app
        .clone()
        .oneshot(req.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 22)
        .await
        .unwrap();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{method} {uri}: body is not JSON ({e}): {bytes:?}"))
    };
    (status, json)
}

/// PUT a YAML workflow.
pub async fn apply_yaml(app: &Router, name: &str, yaml: &str) -> (StatusCode, Value) {
    let uri = format!("/api/v1/workflows/{name}");
    call(
        app,
        "PUT",
        &uri,
        &[("content-type", "application/yaml")],
        yaml.to_owned(),
    )
    .await
}

/// Assert the error shape and code; returns the message.
pub fn assert_error(body: &Value, code: &str) -> String {
    assert_eq!(body["code"], code, "unexpected error body: {body}");
    let message = body["message"].as_str().expect("message is a string");
    assert!(!message.is_empty());
    message.to_owned()
}

/// A workflow with a manual trigger and declared inputs.
pub fn hello(name: &str, description: &str) -> String {
    format!(
        "name: {name}
description: {description}
on:
  manual:
    inputs:
      who:
        type: string
        required: true
      times:
        type: integer
        default: 1
steps:
  greet:
    uses: http
    with:
      method: POST
      url: http://127.0.0.1:9/hello
"
    )
}
