//! Shared test support: a real HTTP server to call (NATS comes from `weft-testkit`).

#![allow(dead_code)]

use std::{net::SocketAddr, time::Duration};

use axum::{
    Json, Router,
    body::Bytes,
    extract::Path,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Redirect, Response},
    routing::{any, get},
};
use serde_json::{Map, Value, json};
use uuid::Uuid;
use weft_events::Task;

/// Start the target server on a free port; it lives as long as the test's runtime.
pub async fn target() -> SocketAddr {
    let app = Router::new()
        .route("/echo", any(echo))
        .route("/status/{code}", any(status))
        .route("/slow", get(slow))
        .route("/text", get(|| async { "plain words" }))
        .route("/bin", get(binary))
        .route("/redirect", get(|| async { Redirect::to("/echo") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// Answers with what it received: `{method, query, headers, body}`.
async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Json<Value> {
    let mut h = Map::new();
    for (name, value) in &headers {
        h.insert(name.to_string(), json!(value.to_str().unwrap_or("?")));
    }
    Json(json!({
        "method": method.as_str(),
        "query": uri.query().unwrap_or_default(),
        "headers": h,
        "body": String::from_utf8_lossy(&body),
    }))
}

async fn status(Path(code): Path<u16>) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT);
    let mut response = (status, Json(json!({"error": code}))).into_response();
    response
        .headers_mut()
        .append("x-multi", header::HeaderValue::from_static("a"));
    response
        .headers_mut()
        .append("x-multi", header::HeaderValue::from_static("b"));
    response
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(3)).await;
    "late"
}

async fn binary() -> Response {
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        vec![0xff_u8, 0x00, 0x01],
    )
        .into_response()
}

/// A task for the http agent with this `with:`.
pub fn task(with: Value) -> Task {
    Task {
        attempt_id: Uuid::now_v7(),
        execution_id: Uuid::now_v7(),
        workflow: "wf".into(),
        step_id: "call".into(),
        instance: None,
        attempt: 1,
        agent: "http".into(),
        with,
        timeout_ms: None,
        traceparent: None,
        heartbeat_timeout_ms: None,
    }
}
