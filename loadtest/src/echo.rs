//! The echo server the W3 workflow calls: `POST /step/{n}` answers `{"value": value + 1, …}`.

use axum::{Json, Router, extract::Path, routing::post};
use serde_json::{Value, json};

/// Start on a free loopback port; returns its base URL.
pub async fn start() -> anyhow::Result<String> {
    let app = Router::new().route("/step/{n}", post(step));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}"))
}

async fn step(Path(n): Path<u32>, Json(body): Json<Value>) -> Json<Value> {
    let value = body["value"].as_i64().unwrap_or(0) + 1;
    Json(json!({"value": value, "step": n, "i": body["i"]}))
}
