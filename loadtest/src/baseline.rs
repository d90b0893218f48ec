//! The no-engine baseline: W3 served by a minimal webhook server that makes the three calls
//! itself, so Weft's figures can be read as ratios to what the calls alone cost on the same
//! machine in the same sitting (absolute figures drift by 2× from day to day; ratios do not).
//!
//! `POST /configure {"echo": URL}` names the echo server (the load generator runs it and says
//! where, as it applies the workflow to Weft); `POST /hooks/{path}` then posts the body to
//! `{echo}/step/1`, that answer to `/step/2`, that one to `/step/3`, and answers 200 with the
//! last. Nothing is stored, retried or published: it is the floor, not a competitor. Touches
//! only the loopback addresses it is given.

use std::sync::{Arc, RwLock};

use anyhow::Context;
use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::post,
};
use clap::Parser;
use serde_json::{Value, json};

/// Command line.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
}

#[derive(Clone)]
struct App {
    http: reqwest::Client,
    echo: Arc<RwLock<Option<String>>>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    weft_runtime::init_crypto();
    let args = Args::parse();
    let app = App {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()?,
        echo: Arc::default(),
    };
    let router = Router::new()
        .route("/configure", post(configure))
        .route("/hooks/{path}", post(hook))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}

async fn configure(State(app): State<App>, Json(body): Json<Value>) -> StatusCode {
    let Some(echo) = body["echo"].as_str() else {
        return StatusCode::BAD_REQUEST;
    };
    match app.echo.write() {
        Ok(mut e) => {
            *e = Some(echo.to_string());
            StatusCode::NO_CONTENT
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The three calls, each fed the previous answer (as W3's steps are).
async fn hook(
    State(app): State<App>,
    Path(_path): Path<String>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let Some(echo) = app.echo.read().ok().and_then(|e| e.clone()) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"code": "unconfigured", "message": "POST /configure first"})),
        );
    };
    let mut value = body;
    for n in 1..=3 {
        match call(&app.http, &format!("{echo}/step/{n}"), &value).await {
            Ok(v) => value = v,
            Err(e) => {
                let message = format!("step {n}: {e}");
                return (
                    StatusCode::BAD_GATEWAY,
                    Json(json!({"code": "step_failed", "message": message})),
                );
            }
        }
    }
    (StatusCode::OK, Json(value))
}

async fn call(http: &reqwest::Client, url: &str, body: &Value) -> reqwest::Result<Value> {
    http.post(url)
        .json(body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
}
