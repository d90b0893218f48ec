//! `/api/v1/secrets`: store (PUT), list (names and dates, never values) and delete secrets.
//!
//! Consumes `{"value": …}` bodies; seals values with the master key and writes them to the
//! `weft_secrets` bucket through `weft_secrets::SecretStore`. Values are never answered, logged
//! or written anywhere in clear.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use weft_secrets::{SecretError, SecretInfo};

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    extract::{Body, Path},
    params::{SecretPath, json_content_type},
};

/// Body of `PUT /api/v1/secrets/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSecret {
    /// The clear value; stored sealed with AES-256-GCM.
    pub value: String,
}

/// What may be shown about a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretView {
    /// Name, used as `${{ secrets.NAME }}`.
    pub name: String,
    /// First stored.
    pub created_at: DateTime<Utc>,
    /// Value last changed.
    pub updated_at: DateTime<Utc>,
}

/// The list of secrets.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretList {
    /// Secrets by name (values are never shown).
    pub items: Vec<SecretView>,
}

impl From<SecretInfo> for SecretView {
    fn from(i: SecretInfo) -> Self {
        Self {
            name: i.name,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

impl From<SecretError> for ApiError {
    fn from(e: SecretError) -> Self {
        match e {
            SecretError::InvalidName(_) => Self::InvalidName(e.to_string()),
            SecretError::Bus(e) => Self::Bus(e),
            SecretError::MasterKey(m) => Self::Unavailable {
                message: m.clone(),
                cause: m,
            },
            other => Self::Internal(other.to_string()),
        }
    }
}

/// Store or replace a secret.
#[utoipa::path(
    put, path = "/api/v1/secrets/{name}", operation_id = "put_secret", tag = "secrets",
    params(SecretPath),
    request_body(content = PutSecret, content_type = "application/json",
        description = "Also accepted: `application/*+json`, and no `Content-Type` at all."),
    responses(
        (status = 200, description = "Stored (sealed)", body = SecretView),
        (status = 400, description = "An invalid name or body (`bad_request`), or a value \
            holding U+0000 (`invalid_text`)", body = ErrorBody),
        (status = 503, description = "No master key, or the bus is down", body = ErrorBody),
    )
)]
pub(crate) async fn put(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<SecretView>, ApiError> {
    json_content_type(&headers)?;
    let request: PutSecret = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("expected {{\"value\": \"…\"}}: {e}")))?;
    let info = state.secrets.put(&name, &request.value).await?;
    tracing::info!(secret = %name, "secret stored");
    Ok(Json(info.into()))
}

/// List secrets: names and dates only.
#[utoipa::path(
    get, path = "/api/v1/secrets", operation_id = "list_secrets", tag = "secrets",
    responses(
        (status = 200, description = "Secrets by name, without values", body = SecretList),
        (status = 503, description = "The event bus is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn list(State(state): State<Arc<AppState>>) -> Result<Json<SecretList>, ApiError> {
    let items = state.secrets.list().await?;
    Ok(Json(SecretList {
        items: items.into_iter().map(SecretView::from).collect(),
    }))
}

/// Delete a secret.
#[utoipa::path(
    delete, path = "/api/v1/secrets/{name}", operation_id = "delete_secret", tag = "secrets",
    params(SecretPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "An invalid name", body = ErrorBody),
        (status = 404, description = "No such secret", body = ErrorBody),
        (status = 503, description = "The event bus is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.secrets.delete(&name).await? {
        tracing::info!(secret = %name, "secret deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("secret `{name}`")))
    }
}
