//! The path and header parameters several routes share, with the checks their handlers make
//! and the patterns the OpenAPI document states for them (a test holds the two together).
//!
//! Consumes raw parameter text; produces validated values or a 400 [`ApiError`]. Touches
//! nothing.

use axum::http::{HeaderMap, HeaderValue, header};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::ApiError;

// The attributes below repeat these literally (utoipa takes only literals there); the tests
// check that the document states these and that they accept exactly what the checks accept.

/// What `WorkflowPath::name` is documented to match: `weft_flow::validate::is_name`.
#[cfg(test)]
pub(crate) const WORKFLOW_NAME_PATTERN: &str = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
/// What `SecretPath::name` is documented to match: `weft_secrets::is_valid_name`.
#[cfg(test)]
pub(crate) const SECRET_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]{0,127}$";
/// What `Idempotency-Key` is documented to match (1 to 255 visible ASCII characters;
/// spaces inside are kept, around are dropped).
#[cfg(test)]
pub(crate) const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]([ -~]*[!-~])?$";

/// What `DeadLetterPath::id` and the list's `cursor` are documented to match:
/// [`dead_letter_id`].
#[cfg(test)]
pub(crate) const DEAD_LETTER_ID_PATTERN: &str = "^[1-9][0-9]{0,18}$";

/// `{name}` of the workflow routes (documentation only; the handlers take a `String` and
/// call [`workflow_name`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct WorkflowPath {
    /// Workflow name: lowercase letters, digits and `-` (not at either end), 1 to 63
    /// characters.
    #[param(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    name: String,
}

/// `{name}` of the secret routes (documentation only).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct SecretPath {
    /// Secret name: letters, digits and `_`, not starting with a digit, 1 to 128 characters.
    #[param(pattern = "^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
    name: String,
}

/// `{name}` of the agent routes (documentation only; the handler calls [`agent_name`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct AgentPath {
    /// Agent name: lowercase letters, digits and `-`, starting with a letter, 1 to 64
    /// characters.
    #[param(pattern = "^[a-z][a-z0-9-]{0,63}$")]
    name: String,
}

/// `{id}` and `{step}` of the step routes (documentation only; the handlers call
/// [`execution_id`] and [`step_id`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct StepPath {
    /// Execution id: a UUID in its hyphenated form.
    id: Uuid,
    /// Step id: letters, digits, `_` and `-`, starting with a letter.
    #[param(pattern = "^[A-Za-z][A-Za-z0-9_-]*$")]
    step: String,
}

/// `{id}` of the event routes (documentation only; the handler calls [`event_id`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct EventPath {
    /// Event id (a CloudEvent `id`): 1 to 1024 visible ASCII characters.
    #[param(pattern = "^[!-~]{1,1024}$")]
    id: String,
}

/// A list's page size: `default` when not given, cut down to `max`; below 1 is 400.
pub(crate) fn page_limit(given: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    match given {
        None => Ok(default),
        Some(n) if n >= 1 => Ok(n.min(max)),
        Some(n) => Err(ApiError::BadRequest(format!(
            "limit must be 1 to {max}, got {n}"
        ))),
    }
}

/// An event id from a path (1 to 1024 visible ASCII characters), or 400.
pub(crate) fn event_id(id: &str) -> Result<(), ApiError> {
    let visible = id.bytes().all(|b| b.is_ascii_graphic());
    if id.is_empty() || id.len() > 1024 || !visible {
        return Err(ApiError::BadRequest(
            "an event id is 1 to 1024 visible ASCII characters".into(),
        ));
    }
    Ok(())
}

/// A step id from a path, or 400.
pub(crate) fn step_id(step: &str) -> Result<(), ApiError> {
    if weft_flow::validate::is_step_id(step) {
        return Ok(());
    }
    Err(ApiError::InvalidName(format!(
        "`{step}` is not a step id: use letters, digits, `_` and `-`, starting with a letter"
    )))
}

/// An agent name from a path, or 400.
pub(crate) fn agent_name(name: &str) -> Result<(), ApiError> {
    if weft_flow::validate::is_agent_name(name) {
        return Ok(());
    }
    Err(ApiError::InvalidName(format!(
        "`{name}` is not an agent name: use lowercase letters, digits and `-`, starting with a \
         letter, at most 64 characters"
    )))
}

/// `{id}` of the dead-letter routes (documentation only; the handlers call
/// [`dead_letter_id`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct DeadLetterPath {
    /// Dead-letter id: its sequence in the dead-letter stream, a positive integer.
    #[param(pattern = "^[1-9][0-9]{0,18}$")]
    id: String,
}

/// A dead-letter id from a path (a positive integer of at most 19 digits), or 400.
pub(crate) fn dead_letter_id(s: &str) -> Result<u64, ApiError> {
    let digits =
        (1..=19).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0');
    digits
        .then(|| s.parse::<u64>().ok())
        .flatten()
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "`{s}` is not a dead-letter id (a positive integer)"
            ))
        })
}

/// `{id}` of the execution routes (documentation only; the handlers call [`execution_id`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct ExecutionPath {
    /// Execution id: a UUID in its hyphenated form.
    id: Uuid,
}

/// The `Idempotency-Key` header of the routes that queue a run (documentation only; the
/// handlers call [`idempotency_key`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct IdempotencyHeader {
    /// Resending with the same key returns the same execution: 1 to 255 visible ASCII
    /// characters.
    #[param(
        rename = "Idempotency-Key",
        pattern = "^[!-~]([ -~]*[!-~])?$",
        min_length = 1,
        max_length = 255
    )]
    key: Option<String>,
}

/// A `Content-Type` value as written, and its media type in lower case without parameters.
pub(crate) fn media_type(value: &HeaderValue) -> (&str, String) {
    let text = value.to_str().unwrap_or_default();
    let essence = text.split(';').next().unwrap_or_default().trim();
    (text, essence.to_ascii_lowercase())
}

/// A JSON body's `Content-Type`: none, `application/json` or `application/*+json`; else 415.
pub(crate) fn json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let (text, essence) = media_type(ct);
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        return Ok(());
    }
    Err(ApiError::UnsupportedMediaType(format!(
        "content type `{text}` is not accepted; send application/json"
    )))
}

/// A workflow name from a path, or 400.
pub(crate) fn workflow_name(name: &str) -> Result<(), ApiError> {
    if weft_flow::validate::is_name(name) {
        return Ok(());
    }
    Err(ApiError::InvalidName(format!(
        "`{name}` is not a workflow name: use lowercase letters, digits and `-` (not at either \
         end), at most 63 characters"
    )))
}

/// An execution id from a path (the hyphenated UUID form only), or 400.
pub(crate) fn execution_id(s: &str) -> Result<Uuid, ApiError> {
    let parsed = (s.len() == 36).then(|| Uuid::parse_str(s).ok()).flatten();
    parsed.ok_or_else(|| ApiError::BadRequest(format!("`{s}` is not an execution id (a UUID)")))
}

/// The `Idempotency-Key` header, when sent: 1 to 255 visible ASCII characters.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v.to_str().ok().map(str::trim);
    match key {
        Some(k)
            if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (b' '..=b'~').contains(&b)) =>
        {
            Ok(Some(k))
        }
        _ => Err(ApiError::BadRequest(
            "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
        )),
    }
}

#[cfg(test)]
#[path = "params_tests.rs"]
mod tests;
