//! A real HTTP server the workflows call: records every request and answers by path.
//!
//! * `POST /echo/{name}` — `{"name", "received": <body>}`.
//! * `GET|POST /script/{key}` — answers the next status of the script set by [`Upstream::script`]
//!   (then 200 once it is used up), with body `{"attempt": n}`.
//! * `POST /slow/{ms}` — sleeps, then `{"slept": ms}`.
//! * `POST /delay/{ms}/{name}` — sleeps, then answers like `/echo/{name}`.
//! * `/status/{code}` — answers that status.
//! * `GET /big/{bytes}` — `{"data": "xxx…"}` with that many `x`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::any,
};
use serde_json::{Value, json};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub body: Value,
    pub idempotency_key: Option<String>,
    pub traceparent: Option<String>,
    pub authorization: Option<String>,
    pub started: Instant,
    pub ended: Instant,
}

#[derive(Default)]
struct Inner {
    seen: Vec<Seen>,
    scripts: HashMap<String, Vec<u16>>,
    counters: HashMap<String, u64>,
}

/// The server.
#[derive(Clone)]
pub struct Upstream {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl Upstream {
    /// Start on a free port.
    pub async fn start() -> Upstream {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/echo/{name}", any(echo))
            .route("/script/{key}", any(script))
            .route("/slow/{ms}", any(slow))
            .route("/delay/{ms}/{name}", any(delay))
            .route("/status/{code}", any(status))
            .route("/nul", any(nul))
            .route("/big/{bytes}", any(big))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream {
            base: format!("http://{addr}"),
            inner,
        }
    }

    /// Answer `key` with these statuses, in order.
    pub fn script(&self, key: &str, statuses: &[u16]) {
        self.inner
            .lock()
            .expect("lock")
            .scripts
            .insert(key.into(), statuses.to_vec());
    }

    /// Requests seen whose path starts with `prefix`.
    pub fn seen(&self, prefix: &str) -> Vec<Seen> {
        self.inner
            .lock()
            .expect("lock")
            .seen
            .iter()
            .filter(|s| s.path.starts_with(prefix))
            .cloned()
            .collect()
    }
}

type St = State<Arc<Mutex<Inner>>>;

fn record(st: &St, path: String, headers: &HeaderMap, body: &str, started: Instant) {
    let body = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let seen = Seen {
        path,
        body,
        idempotency_key: header("idempotency-key"),
        traceparent: header("traceparent"),
        authorization: header("authorization"),
        started,
        ended: Instant::now(),
    };
    st.lock().expect("lock").seen.push(seen);
}

async fn echo(st: St, Path(name): Path<String>, headers: HeaderMap, body: String) -> Json<Value> {
    record(
        &st,
        format!("/echo/{name}"),
        &headers,
        &body,
        Instant::now(),
    );
    let received: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    Json(json!({"name": name, "received": received}))
}

/// A JSON answer holding U+0000, which PostgreSQL cannot store.
async fn nul() -> Json<Value> {
    Json(json!({"s": "a\u{0}b", "k\u{0}": 1}))
}

async fn script(
    st: St,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, Json<Value>) {
    record(
        &st,
        format!("/script/{key}"),
        &headers,
        &body,
        Instant::now(),
    );
    let mut inner = st.lock().expect("lock");
    let n = {
        let c = inner.counters.entry(key.clone()).or_default();
        *c += 1;
        *c
    };
    let code = inner
        .scripts
        .get_mut(&key)
        .and_then(|s| {
            if s.is_empty() {
                None
            } else {
                Some(s.remove(0))
            }
        })
        .unwrap_or(200);
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        Json(json!({"attempt": n})),
    )
}

async fn slow(st: St, Path(ms): Path<u64>, headers: HeaderMap, body: String) -> Json<Value> {
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(ms)).await;
    record(&st, format!("/slow/{ms}"), &headers, &body, started);
    Json(json!({"slept": ms}))
}

async fn delay(
    st: St,
    Path((ms, name)): Path<(u64, String)>,
    headers: HeaderMap,
    body: String,
) -> Json<Value> {
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(ms)).await;
    record(&st, format!("/delay/{ms}/{name}"), &headers, &body, started);
    let received: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    Json(json!({"name": name, "received": received}))
}

async fn status(
    st: St,
    Path(code): Path<u16>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, Json<Value>) {
    record(
        &st,
        format!("/status/{code}"),
        &headers,
        &body,
        Instant::now(),
    );
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
        Json(json!({"code": code})),
    )
}

async fn big(Path(bytes): Path<usize>) -> Json<Value> {
    Json(json!({"data": "x".repeat(bytes)}))
}
