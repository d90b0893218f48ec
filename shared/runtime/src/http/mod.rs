//! The HTTP listener every Weft service answers on, with graceful shutdown, request limits and
//! JSON errors from every layer.
//!
//! Consumes TCP connections and an axum [`Router`]; produces HTTP/1.1 answers. Every listener:
//! - answers an unknown route with a JSON 404 ([`error::not_found`]) and turns every non-JSON
//!   4xx/5xx (axum's rejections, its 405) into `{"code", "message"}` ([`error::json_errors`]);
//! - refuses too many or too large header fields (431), U+0000 in the path, the query or a JSON
//!   body (400 `invalid_text`), a body over the size limit (413) or not sent in time (408)
//!   ([`guard`]);
//! - closes a connection whose request head does not arrive in time, answering 408 when part
//!   of a head came in, and answers hyper's own parse errors (bad `Content-Length`, malformed
//!   header, …) with JSON too ([`wire`]).
//!
//! The limits are [`HttpLimits`]; `docs/architecture.md` ("HTTP limits") lists what a client
//! sees when one is hit.

pub mod error;
mod guard;
mod limits;
mod wire;

use std::{sync::Arc, time::Duration};

use axum::{Router, middleware};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_util::task::TaskTracker;

pub use error::{ErrorCode, error_body, error_response};
pub use guard::is_length_limit;
pub use limits::HttpLimits;

use crate::Shutdown;
use wire::Wire;

/// How long a connection refused at parse time is drained before it is closed, so that the
/// client reads the answer instead of a reset.
const LINGER: Duration = Duration::from_secs(2);
/// How much of a refused request is drained at most.
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// Bind `addr`; fails with the address in the message.
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// `app` as every listener serves it: the JSON 404 fallback, the JSON error mapper and the
/// request guard around it. [`serve`] applies it; tests that call a router directly can too.
pub fn app(app: Router, limits: &HttpLimits) -> Router {
    let limits = Arc::new(limits.clone());
    app.fallback(error::not_found)
        .layer(middleware::from_fn_with_state(limits, guard::guard))
        .layer(middleware::from_fn(error::json_errors))
}

/// Serve `app` (wrapped by [`app`]) on `listener` under `limits` until `shutdown` fires, then
/// let open connections finish their current request.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &HttpLimits,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "listening");
    }
    let app = self::app(app, limits);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout())
        .max_headers(limits.parser_max_headers())
        .max_buf_size(limits.parser_max_buf());
    let tracker = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.wait() => break,
        };
        let _ = stream.set_nodelay(true);
        tracker.spawn(connection(
            builder.clone(),
            stream,
            app.clone(),
            shutdown.clone(),
        ));
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// One connection: hyper serves it; a parse error or a head timeout gets its JSON answer here.
async fn connection(builder: http1::Builder, stream: TcpStream, app: Router, shutdown: Shutdown) {
    let service = TowerToHyperService::new(app);
    let mut conn = builder.serve_connection(TokioIo::new(Wire::new(stream)), service);
    let result = tokio::select! {
        result = &mut conn => result,
        () = shutdown.wait() => {
            std::pin::Pin::new(&mut conn).graceful_shutdown();
            (&mut conn).await
        }
    };
    let parts = conn.into_parts();
    let partial_head = !parts.read_buf.is_empty();
    let wire = parts.io.into_inner();
    let answer = match (wire.swallowed(), &result) {
        (Some(status), _) => Some(parse_error_answer(status, result.as_ref().err())),
        (None, Err(e)) if e.is_timeout() && partial_head => Some((
            408,
            ErrorCode::RequestTimeout,
            "the request head did not arrive in time".to_string(),
        )),
        _ => None,
    };
    if let Err(error) = &result {
        tracing::debug!(%error, answered = ?answer.as_ref().map(|a| a.0), "connection ended with an error");
    }
    if let Some((status, code, message)) = answer {
        answer_and_close(wire.into_inner(), status, code, &message).await;
    }
}

/// The status, code and message for a request hyper could not parse.
fn parse_error_answer(status: u16, error: Option<&hyper::Error>) -> (u16, ErrorCode, String) {
    let code = match status {
        431 => ErrorCode::HeadersTooLarge,
        414 => ErrorCode::UriTooLong,
        _ => ErrorCode::BadRequest,
    };
    let message = match status {
        431 => "the request head has more header fields or bytes than the server parses".into(),
        414 => "the request target is too long".into(),
        _ => match error {
            Some(error) => format!("malformed request head: {error}"),
            None => "malformed request head".into(),
        },
    };
    (status, code, message)
}

/// Write a JSON error answer on a connection hyper gave up, then drain what the client still
/// sends for a moment so that it reads the answer rather than a reset.
async fn answer_and_close(mut stream: TcpStream, status: u16, code: ErrorCode, message: &str) {
    let body = error_body(code, message);
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let written = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await
    };
    if tokio::time::timeout(LINGER, written).await.is_err() {
        return;
    }
    let drain = async {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        while total < LINGER_BYTES {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}
