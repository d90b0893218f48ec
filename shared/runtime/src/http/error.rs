//! The one shape of every HTTP error Weft answers: JSON `{"code": …, "message": …}` with
//! `content-type: application/json`, whichever layer refused the request.
//!
//! Consumes responses (axum's own rejections answer `text/plain` or nothing); produces JSON
//! error responses. [`ErrorCode`] is the one list of codes and the one status → code mapping
//! that the admin API, the webhook doors and the listener share. Touches nothing.

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// Machine-readable error codes, the `code` of every error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: malformed request (syntax, extractor rejections, malformed head).
    BadRequest,
    /// 400: text holding U+0000, which PostgreSQL cannot store.
    InvalidText,
    /// 400: a name in the path outside its character set.
    InvalidName,
    /// 401: authentication failed.
    Unauthorized,
    /// 403: the caller may not do this.
    Forbidden,
    /// 404: no such route or resource.
    NotFound,
    /// 405: the route exists, not with this method.
    MethodNotAllowed,
    /// 408: the head or the body did not arrive in time.
    RequestTimeout,
    /// 409: the request contradicts the resource's state.
    Conflict,
    /// 413: the body is too large.
    PayloadTooLarge,
    /// 414: the request target is too long.
    UriTooLong,
    /// 415: the body's content type is not accepted.
    UnsupportedMediaType,
    /// 422: well-formed JSON of the wrong shape.
    UnprocessableEntity,
    /// 431: too many or too large header fields.
    HeadersTooLarge,
    /// 500: a server-side failure (details only in the log).
    Internal,
    /// 503: a dependency is down; try again.
    Unavailable,
}

impl ErrorCode {
    /// The code as it appears in bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidText => "invalid_text",
            Self::InvalidName => "invalid_name",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RequestTimeout => "request_timeout",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UriTooLong => "uri_too_long",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UnprocessableEntity => "unprocessable_entity",
            Self::HeadersTooLarge => "headers_too_large",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
        }
    }

    /// The code for a status when nothing more specific is known.
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::UNAUTHORIZED => Self::Unauthorized,
            StatusCode::FORBIDDEN => Self::Forbidden,
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::REQUEST_TIMEOUT => Self::RequestTimeout,
            StatusCode::CONFLICT => Self::Conflict,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::URI_TOO_LONG => Self::UriTooLong,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => Self::UnprocessableEntity,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => Self::HeadersTooLarge,
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable,
            s if s.is_server_error() => Self::Internal,
            _ => Self::BadRequest,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of an error.
#[derive(Debug, Serialize)]
struct Body_<'a> {
    code: ErrorCode,
    message: &'a str,
}

/// The bytes of an error body `{"code", "message"}`.
pub fn error_body(code: ErrorCode, message: &str) -> Vec<u8> {
    // Serializing a struct of a unit enum and a string cannot fail.
    serde_json::to_vec(&Body_ { code, message }).unwrap_or_else(|_| b"{}".to_vec())
}

/// An error response with a JSON body.
pub fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let mut response = Response::new(Body::from(error_body(code, message)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The fallback of every listener: an unknown route is a JSON 404.
pub async fn not_found(request: Request) -> Response {
    let message = format!("no route for {} {}", request.method(), request.uri().path());
    error_response(StatusCode::NOT_FOUND, ErrorCode::NotFound, &message)
}

/// Largest non-JSON error body carried over into the JSON message.
const MAX_CARRIED: usize = 4 * 1024;

/// Middleware: any 4xx/5xx answer that is not JSON already (axum's rejections are text, its
/// 405 and 404 have no body) becomes `{"code", "message"}` with the same status; the text, if
/// any, becomes the message.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_CARRIED).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() || status.is_server_error() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_lowercase()
    } else {
        text
    };
    let mut json = error_response(status, ErrorCode::for_status(status), &message);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().append(name, value.clone());
        }
    }
    json.into_response()
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.starts_with("application/json") || v.contains("+json")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_status_has_a_code() {
        for n in 400..600u16 {
            let status = StatusCode::from_u16(n).expect("status");
            let code = ErrorCode::for_status(status);
            assert!(!code.as_str().is_empty());
            if n >= 500 && n != 503 {
                assert_eq!(code, ErrorCode::Internal);
            }
        }
        let body: serde_json::Value =
            serde_json::from_slice(&error_body(ErrorCode::InvalidText, "a \"b\"")).expect("json");
        assert_eq!(body["code"], "invalid_text");
        assert_eq!(body["message"], "a \"b\"");
    }
}
