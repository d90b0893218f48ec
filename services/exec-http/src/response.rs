//! A response as a step's output, and whether its status fails the attempt.
//!
//! Consumes a `reqwest::Response`; produces `{status, headers, body}` (headers lowercased,
//! repeated values joined by `, `; body as JSON for a JSON content type, else text, else
//! `{"base64": …}`) and the [`StepError`] for a failing status. Touches the network only to
//! read the body, bounded by a size limit.

use base64::Engine;
use reqwest::{Response, StatusCode, header};
use serde_json::{Map, Value, json};
use weft_events::{ErrorCode, StepError};

/// The output of an http step: `{status, headers, body}` (kept as the JSON it was read into;
/// the type gives it its documented schema).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct HttpOutput(pub Value);

impl schemars::JsonSchema for HttpOutput {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HttpOutput".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "The response of an http step.",
            "type": "object",
            "required": ["status", "headers", "body"],
            "properties": {
                "status": {"type": "integer", "description": "HTTP status code."},
                "headers": {
                    "type": "object",
                    "description": "Response headers, names lowercased, repeated values joined by `, `.",
                    "additionalProperties": {"type": "string"}
                },
                "body": {
                    "description": "The body: parsed JSON for a JSON content type, else UTF-8 text, else `{\"base64\": …}`."
                }
            }
        })
    }
}

/// Read a response into the step output, keeping at most `limit` body bytes.
pub async fn output(mut response: Response, limit: usize) -> Result<Value, StepError> {
    let status = response.status().as_u16();
    let headers = headers_json(response.headers());
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(read_error)? {
        if bytes.len() + chunk.len() > limit {
            return Err(StepError::permanent(
                ErrorCode::ResponseTooLarge,
                format!("the response body is larger than {limit} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(json!({
        "status": status,
        "headers": headers,
        "body": body_json(&content_type, &bytes),
    }))
}

/// The error for an output whose status fails the attempt, if it does: 429 and 5xx may pass on
/// another attempt, other non-2xx statuses will not. The output rides along as `details`.
pub fn status_error(output: &Value) -> Option<StepError> {
    let code = output["status"].as_u64().unwrap_or_default();
    let status = StatusCode::from_u16(u16::try_from(code).unwrap_or(0)).ok()?;
    if status.is_success() {
        return None;
    }
    let message = format!("the server answered {status}");
    let error = if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        if status == StatusCode::TOO_MANY_REQUESTS {
            StepError::retryable(ErrorCode::RateLimited, message)
        } else {
            StepError::retryable(ErrorCode::HttpStatus, message)
        }
    } else {
        StepError::permanent(ErrorCode::HttpStatus, message)
    };
    Some(error.with_details(output.clone()))
}

fn read_error(e: reqwest::Error) -> StepError {
    let code = if e.is_timeout() {
        ErrorCode::Timeout
    } else {
        ErrorCode::Connect
    };
    StepError::retryable(code, format!("reading the response failed: {e}"))
}

fn headers_json(headers: &header::HeaderMap) -> Value {
    let mut out = Map::new();
    for name in headers.keys() {
        let joined = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", ");
        out.insert(name.as_str().to_string(), Value::String(joined));
    }
    Value::Object(out)
}

/// JSON when the content type says so and it parses, else UTF-8 text, else base64.
fn body_json(content_type: &str, bytes: &[u8]) -> Value {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let is_json = media == "application/json" || media.ends_with("+json");
    if is_json && let Ok(v) = serde_json::from_slice(bytes) {
        return v;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_string()),
        Err(_) => json!({"base64": base64::engine::general_purpose::STANDARD.encode(bytes)}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        assert_eq!(
            body_json("application/json", br#"{"a":1}"#),
            json!({"a": 1})
        );
        assert_eq!(
            body_json("application/problem+json", b"{bad"),
            json!("{bad")
        );
        assert_eq!(body_json("text/plain", b"hi"), json!("hi"));
        assert_eq!(
            body_json("image/png", &[0xff, 0]),
            json!({"base64": "/wA="})
        );
    }

    #[test]
    fn statuses() {
        let out = |s: u16| json!({"status": s, "headers": {}, "body": ""});
        assert!(status_error(&out(204)).is_none());
        assert!(status_error(&out(503)).is_some_and(|e| e.retryable));
        assert!(status_error(&out(429)).is_some_and(|e| e.retryable));
        let e = status_error(&out(404)).expect("fails");
        assert!(!e.retryable);
        assert_eq!(e.code, weft_events::ErrorCode::HttpStatus);
        assert_eq!(e.details, Some(out(404)));
    }
}
