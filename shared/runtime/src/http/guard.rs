//! The checks every request passes before any handler sees it: header count and size (431),
//! U+0000 in the path or the query (400 `invalid_text`), the body read whole within its size
//! (413) and time (408) limits, and U+0000 in a JSON body (400 `invalid_text`).
//!
//! Consumes the request and the listener's [`HttpLimits`]; produces the same request with its
//! body already buffered, or a JSON error. Touches nothing.

use std::sync::Arc;

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::Response,
};

use super::{
    HttpLimits,
    error::{ErrorCode, error_response},
};

/// Middleware: refuse what breaks the limits, else pass the request on with its body buffered.
pub async fn guard(
    State(limits): State<Arc<HttpLimits>>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(refused) = check_head(&limits, &request) {
        return refused.into_response();
    }
    let (parts, body) = request.into_parts();
    let bytes = match read_body(&limits, &parts.headers, body).await {
        Ok(bytes) => bytes,
        Err(refused) => return refused.into_response(),
    };
    // Parsed only when the text holds the escape: most JSON bodies are not parsed twice.
    if is_json(&parts.headers)
        && weft_events::text::json_may_hold_nul(&bytes)
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && let Some(at) = weft_events::text::find_nul(&value)
    {
        return invalid_text(&format!("at {at} of the body")).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Why the guard refused a request.
struct Refusal {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    /// The rest of the body was not read: the connection cannot be reused.
    close: bool,
}

impl Refusal {
    fn new(status: StatusCode, code: ErrorCode, message: String) -> Self {
        Self {
            status,
            code,
            message,
            close: false,
        }
    }

    fn closing(self) -> Self {
        Self {
            close: true,
            ..self
        }
    }

    fn into_response(self) -> Response {
        let mut response = error_response(self.status, self.code, &self.message);
        if self.close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// Header count and size, then U+0000 in the path and the query.
fn check_head(limits: &HttpLimits, request: &Request) -> Result<(), Refusal> {
    let headers = request.headers();
    if headers.len() > limits.max_headers {
        return Err(Refusal::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::HeadersTooLarge,
            format!(
                "the request has {} header fields; at most {} are accepted",
                headers.len(),
                limits.max_headers
            ),
        ));
    }
    let line = request.method().as_str().len() + request.uri().to_string().len() + 12;
    let size = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + line;
    if size > limits.max_header_bytes {
        return Err(Refusal::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::HeadersTooLarge,
            format!(
                "the request head is {size} bytes; at most {} are accepted",
                limits.max_header_bytes
            ),
        ));
    }
    let uri = request.uri();
    if let Some(at) = nul_in_path(uri.path()) {
        return Err(invalid_text(&at));
    }
    if let Some(at) = uri.query().and_then(nul_in_query) {
        return Err(invalid_text(&at));
    }
    Ok(())
}

/// Where the path holds an encoded U+0000 (`%00`; hyper refuses a raw one).
pub(crate) fn nul_in_path(path: &str) -> Option<String> {
    path.split('/')
        .enumerate()
        .find(|(_, segment)| segment.contains("%00"))
        .map(|(i, segment)| format!("in path segment {i} (`{segment}`)"))
}

/// Which query parameter holds an encoded U+0000.
pub(crate) fn nul_in_query(query: &str) -> Option<String> {
    query
        .split('&')
        .find(|pair| pair.contains("%00"))
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or(pair);
            format!("in query parameter `{name}`")
        })
}

fn invalid_text(at: &str) -> Refusal {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidText,
        format!("text must not contain U+0000 (it cannot be stored); found {at}"),
    )
}

/// The whole body within the size and time limits. A refusal closes the connection, since the
/// rest of the body was not read.
async fn read_body(limits: &HttpLimits, headers: &HeaderMap, body: Body) -> Result<Bytes, Refusal> {
    let max = limits.max_body_bytes;
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {max} bytes"),
        )
        .closing()
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large());
    }
    let timeout = limits.body_read_timeout();
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, max)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if is_length_limit(&e) => Err(too_large()),
        Ok(Err(e)) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            format!("cannot read the body: {e}"),
        )
        .closing()),
        Err(_) => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RequestTimeout,
            format!("the body did not arrive within {} ms", timeout.as_millis()),
        )
        .closing()),
    }
}

/// Whether a `to_bytes` error is the length limit (it may be wrapped in `axum::Error`s).
pub fn is_length_limit(error: &axum::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// JSON media types: `application/json` and every `+json` suffix (CloudEvents' too).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let essence = v
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_in_every_path_segment_and_query_parameter() {
        assert_eq!(nul_in_path("/api/v1/workflows/ok"), None);
        for (path, segment) in [
            ("/api/v1/workflows/a%00b", 4),
            ("/api/v1/workflows/a%00b/versions", 4),
            ("/%00", 1),
            ("/hooks/x/%00/y", 3),
        ] {
            let at = nul_in_path(path).expect(path);
            assert!(at.contains(&format!("segment {segment}")), "{path}: {at}");
        }
        assert_eq!(nul_in_query("workflow=a&status=failed"), None);
        assert_eq!(nul_in_query("a=%2500"), None, "%25 is a percent sign");
        for (query, name) in [
            ("workflow=a%00b", "workflow"),
            ("event_id=%00", "event_id"),
            ("x=1&limit=%00&y=2", "limit"),
            ("a%00b=1", "a%00b"),
            ("flag%00", "flag%00"),
        ] {
            let at = nul_in_query(query).expect(query);
            assert!(at.contains(&format!("`{name}`")), "{query}: {at}");
        }
    }
}
