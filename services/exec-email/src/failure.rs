//! How SMTP failures become step errors: the code, whether a retry may help, and the server's
//! answer in `details`.
//!
//! Consumes lettre's SMTP errors and the refused recipients; produces [`StepError`]s: no
//! connection → `connect` (retryable, except a TLS refusal: untrusted certificate, protocol
//! mismatch); an error answer → `smtp` with `{code, response}` (4xx retryable, 5xx not); no
//! answer → `timeout`; a connection lost after the message data → `connect`, retryable, saying
//! the server may have the message. Touches nothing.

use serde_json::json;
use weft_executor::{ErrorCode, StepError};

use crate::with::RejectedRecipient;

/// A failure while connecting, greeting, saying EHLO or starting TLS.
pub(crate) fn connect_error(target: &str, e: &lettre::transport::smtp::Error) -> StepError {
    if e.status().is_some() {
        return smtp_error(&format!("the session with {target}"), e);
    }
    if e.is_timeout() {
        return StepError::retryable(
            ErrorCode::Timeout,
            format!("connecting to {target}: {}", chain(e)),
        );
    }
    // A TLS failure (untrusted or mismatched certificate, protocol mismatch such as tls: tls
    // against a plain port) fails the same way every time; a refused or reset connection may not.
    StepError {
        code: ErrorCode::Connect,
        message: format!("cannot connect to {target}: {}", chain(e)),
        retryable: !tls_failure(e),
        details: None,
    }
}

/// A failure answer or broken connection during a command.
pub(crate) fn smtp_error(step: &str, e: &lettre::transport::smtp::Error) -> StepError {
    match e.status() {
        Some(code) => {
            let code = u16::from(code);
            let text = server_text(e);
            StepError {
                code: ErrorCode::Smtp,
                message: format!("{step}: the server answered {code} {text}"),
                retryable: e.is_transient(),
                details: Some(json!({"code": code, "response": text})),
            }
        }
        None if e.is_timeout() => {
            StepError::retryable(ErrorCode::Timeout, format!("{step}: {}", chain(e)))
        }
        None if e.is_client() => {
            StepError::permanent(ErrorCode::Smtp, format!("{step}: {}", chain(e)))
        }
        None => StepError::retryable(
            ErrorCode::Connect,
            format!("{step}: connection lost: {}", chain(e)),
        ),
    }
}

/// After the message data was written, a lost connection leaves the outcome unknown.
pub(crate) fn data_error(e: &lettre::transport::smtp::Error) -> StepError {
    if e.status().is_some() {
        return smtp_error("the message data", e);
    }
    StepError::retryable(
        ErrorCode::Connect,
        format!(
            "connection lost after the message data was sent ({}); the server may have accepted \
             it, and a retry sends the same Message-ID",
            chain(e)
        ),
    )
}

/// Every recipient (or, with `require_all_recipients`, some) was refused.
pub(crate) fn refused(rejected: &[RejectedRecipient], none_accepted: bool) -> StepError {
    let list = rejected
        .iter()
        .map(|r| format!("{} ({} {})", r.address, r.code, r.message))
        .collect::<Vec<_>>()
        .join(", ");
    let (message, retryable) = if none_accepted {
        (
            format!("the server refused every recipient: {list}"),
            rejected.iter().any(|r| r.retryable),
        )
    } else {
        (
            format!(
                "the server refused some recipients (require_all_recipients, nothing sent): {list}"
            ),
            rejected.iter().all(|r| r.retryable),
        )
    };
    StepError {
        code: ErrorCode::Smtp,
        message,
        retryable,
        details: Some(json!({ "rejected": rejected })),
    }
}

/// The server's text of an error answer (lettre keeps it as the error's source).
pub(crate) fn server_text(e: &lettre::transport::smtp::Error) -> String {
    std::error::Error::source(e).map_or_else(|| e.to_string(), ToString::to_string)
}

/// The error and its sources, `: `-separated.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// Whether rustls refused the session somewhere in `e`'s chain (tokio-rustls reports it as an
/// `io::Error` of kind `InvalidData` wrapping the `rustls::Error`; `io::Error::source` skips
/// the wrapped error, so look inside).
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(e);
    while let Some(err) = current {
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && (io.kind() == std::io::ErrorKind::InvalidData
                || io
                    .get_ref()
                    .is_some_and(|inner| inner.is::<rustls::Error>()))
        {
            return true;
        }
        current = err.source();
    }
    false
}
