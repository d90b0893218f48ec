//! Test support until `weft-testkit` lands here: a real `nats-server -js` on a free port
//! (killed by PID on drop) and a fresh PostgreSQL database `weft_test_<uuid>` on the server at
//! `WEFT_TEST_PG_URL` (dropped on drop), with the API built over both.
#![allow(dead_code, clippy::unwrap_used)]

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use tower::ServiceExt;
use weft_api::ApiService;
use weft_bus::Bus;
use weft_store::Store;

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:55432/postgres";

/// A running NATS server with JetStream.
pub struct Nats {
    child: Child,
    _dir: tempfile::TempDir,
    pub url: String,
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nats_binary() -> PathBuf {
    if let Ok(p) = std::env::var("WEFT_NATS_SERVER") {
        return p.into();
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(".cache/weft/venv/bin/nats-server")
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Nats {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let bin = nats_binary();
        let child = Command::new(&bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Self {
            child,
            _dir: dir,
            url: format!("nats://127.0.0.1:{port}"),
        }
    }
}

/// A fresh database, dropped at the end.
pub struct Db {
    admin_url: String,
    name: String,
    pub url: String,
}

impl Db {
    pub async fn create() -> Self {
        let admin_url = std::env::var("WEFT_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG.into());
        let name = format!("weft_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin_url).await.unwrap();
        // `name` is our own `weft_test_<hex>`: nothing to inject.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = admin_url.split('?').next().unwrap();
        let (prefix, _) = base.rsplit_once('/').unwrap();
        let url = format!("{prefix}/{name}");
        Self {
            admin_url,
            name,
            url,
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut c) = PgConnection::connect(&url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut c)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Everything a test needs.
pub struct Env {
    pub store: Store,
    pub bus: Bus,
    pub api: ApiService,
    pub app: Router,
    // Dropped last: the server and the database outlive the clients above.
    pub nats: Nats,
    pub db: Db,
}

pub async fn env() -> Env {
    let nats = Nats::start();
    let db = Db::create().await;
    let store = Store::connect(&db.url, 5).await.unwrap();
    store.migrate().await.unwrap();
    let bus = connect_bus(&nats.url).await;
    let api = ApiService::new(store.clone(), bus.clone());
    api.sync_registry().await.unwrap();
    let app = api.router();
    Env {
        store,
        bus,
        api,
        app,
        nats,
        db,
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
