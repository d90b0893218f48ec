//! `/api/v1/workflows`: apply (PUT YAML or JSON), list, get, versions and delete.
//!
//! Consumes workflow source text; validates it with `weft_flow::parse`; writes versions to
//! PostgreSQL (`workflows`, `workflow_versions`) and announces the result in the
//! `weft_workflows` bucket (put on apply, delete on delete). Produces JSON views that are
//! separate from the store's rows.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use weft_flow::{Format, Workflow};
use weft_store::workflows::{Applied, NewVersion, WorkflowRecord};

use crate::{
    AppState, agents,
    digest::digest,
    error::{ApiError, ErrorBody},
    extract::{Body, Path},
    params::{WorkflowPath, workflow_name},
    registry,
};

/// What applying did.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApplyResult {
    /// A new workflow (or a deleted one brought back).
    Created,
    /// A new version.
    Updated,
    /// Same definition as the current version; nothing stored.
    Unchanged,
}

/// Answer to an apply.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplyResponse {
    /// Workflow name.
    pub name: String,
    /// Current version after applying.
    pub version: i32,
    /// What happened.
    pub result: ApplyResult,
}

/// One workflow in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowSummary {
    /// Name.
    pub name: String,
    /// Description from the definition.
    pub description: Option<String>,
    /// Current version.
    pub version: i32,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Its triggers, e.g. `webhook:orders`, `event:dev.acme.order.created`, `manual`.
    pub triggers: Vec<String>,
}

/// The list of workflows.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowList {
    /// Live workflows by name.
    pub items: Vec<WorkflowSummary>,
}

/// One workflow at its current version.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowDetail {
    /// Name.
    pub name: String,
    /// Current version.
    pub version: i32,
    /// Description from the definition.
    pub description: Option<String>,
    /// The parsed definition, as JSON.
    pub definition: Value,
    /// The source text as applied.
    pub source: String,
    /// `yaml` or `json`.
    pub format: String,
    /// First applied.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// One stored version.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionSummary {
    /// Version number, from 1.
    pub version: i32,
    /// SHA-256 of the canonical definition JSON.
    pub digest: String,
    /// When it was applied.
    pub created_at: DateTime<Utc>,
}

/// Every version of a workflow, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    /// Versions, newest first.
    pub items: Vec<VersionSummary>,
}

/// Apply a workflow: create it, add a version, or change nothing when the definition is the
/// same; then activate it in the registry.
#[utoipa::path(
    put, path = "/api/v1/workflows/{name}", operation_id = "apply_workflow", tag = "workflows",
    params(WorkflowPath),
    request_body(
        description = "The workflow file (`schemas/workflow.schema.json`), YAML or JSON; \
                       without `Content-Type` it is read as YAML. Also accepted: \
                       `application/*+yaml` and `application/*+json`.",
        content(("application/yaml"), ("application/x-yaml"), ("text/yaml"), ("text/x-yaml"),
            ("application/json"))),
    responses(
        (status = 201, description = "Created", body = ApplyResponse),
        (status = 200, description = "Updated or unchanged", body = ApplyResponse),
        (status = 400, description = "Invalid workflow (`invalid_workflow`, with `line`, \
            `column` and `field` when known), a body that is not UTF-8 text, or an invalid \
            name in the path (`bad_request`)", body = ErrorBody),
        (status = 409, description = "Name differs from the path", body = ErrorBody),
        (status = 415, description = "Unsupported content type", body = ErrorBody),
        (status = 503, description = "Stored, but not activated", body = ErrorBody),
    )
)]
pub(crate) async fn apply(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    workflow_name(&name)?;
    st.registry_synced().await?;
    let format = body_format(&headers)?;
    let source = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the body is not UTF-8 text".into()))?;
    let workflow = weft_flow::parse(source, format)?;
    // `uses:` names a built-in or announced agent; `with:` fits its schema.
    agents::catalog(&st).await?.check(&workflow, Some(source))?;
    // `call:` names existing workflows and makes no cycle.
    let called = called_workflows(&st, &workflow).await?;
    weft_flow::calls::check(&workflow, Some(source), &called)?;
    if workflow.name != name {
        return Err(ApiError::Conflict(format!(
            "the file names workflow `{}` but the path names `{name}`",
            workflow.name
        )));
    }
    let definition = serde_json::to_value(&workflow)
        .map_err(|e| ApiError::Internal(format!("encoding workflow {name}: {e}")))?;
    let digest = digest(&definition);
    let applied = st
        .store
        .apply_workflow(NewVersion {
            name: &name,
            format: match format {
                Format::Yaml => "yaml",
                Format::Json => "json",
            },
            source,
            definition: &definition,
            digest: &digest,
        })
        .await?;
    let version = applied.version();
    // Also on "unchanged": re-applying repairs a registry that missed an earlier put.
    registry::publish(&st.bus, version, &workflow)
        .await
        .map_err(|e| ApiError::Unavailable {
            message: format!(
                "workflow `{name}` was stored as version {version} but could not be activated: \
                 the event bus is unavailable. Apply it again to activate it."
            ),
            cause: e.to_string(),
        })?;
    let (status, result) = match applied {
        Applied::Created(_) => (StatusCode::CREATED, ApplyResult::Created),
        Applied::Updated(_) => (StatusCode::OK, ApplyResult::Updated),
        Applied::Unchanged(_) => (StatusCode::OK, ApplyResult::Unchanged),
    };
    tracing::info!(workflow = %name, version, ?result, "workflow applied");
    Ok((
        status,
        Json(ApplyResponse {
            name,
            version,
            result,
        }),
    )
        .into_response())
}

/// List live workflows.
#[utoipa::path(
    get, path = "/api/v1/workflows", operation_id = "list_workflows", tag = "workflows",
    responses((status = 200, description = "Live workflows by name", body = WorkflowList))
)]
pub(crate) async fn list(State(st): State<Arc<AppState>>) -> Result<Json<WorkflowList>, ApiError> {
    let items = st
        .store
        .list_workflows()
        .await?
        .into_iter()
        .map(|r| WorkflowSummary {
            triggers: triggers(&r),
            name: r.name,
            description: r.description,
            version: r.current_version,
            updated_at: r.updated_at,
        })
        .collect();
    Ok(Json(WorkflowList { items }))
}

/// Get a live workflow at its current version.
#[utoipa::path(
    get, path = "/api/v1/workflows/{name}", operation_id = "get_workflow", tag = "workflows",
    params(WorkflowPath),
    responses(
        (status = 200, description = "The workflow", body = WorkflowDetail),
        (status = 404, description = "Unknown workflow", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<WorkflowDetail>, ApiError> {
    workflow_name(&name)?;
    let r = st
        .store
        .get_workflow(&name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("workflow `{name}`")))?;
    Ok(Json(WorkflowDetail {
        name: r.name,
        version: r.current_version,
        description: r.description,
        definition: r.definition,
        source: r.source,
        format: r.format,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }))
}

/// Every stored version of a workflow, also after it was deleted.
#[utoipa::path(
    get, path = "/api/v1/workflows/{name}/versions", operation_id = "list_workflow_versions", tag = "workflows",
    params(WorkflowPath),
    responses(
        (status = 200, description = "Versions, newest first", body = VersionList),
        (status = 404, description = "Never applied", body = ErrorBody),
    )
)]
pub(crate) async fn versions(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<VersionList>, ApiError> {
    workflow_name(&name)?;
    let rows = st.store.workflow_versions(&name).await?;
    if rows.is_empty() {
        return Err(ApiError::not_found(format!("workflow `{name}`")));
    }
    let items = rows
        .into_iter()
        .map(|v| VersionSummary {
            version: v.version,
            digest: v.digest,
            created_at: v.created_at,
        })
        .collect();
    Ok(Json(VersionList { items }))
}

/// Delete a workflow: its triggers stop; its versions and executions stay readable.
#[utoipa::path(
    delete, path = "/api/v1/workflows/{name}", operation_id = "delete_workflow", tag = "workflows",
    params(WorkflowPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Unknown workflow", body = ErrorBody),
        (status = 503, description = "Deleted, but its triggers could not be stopped", body = ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    workflow_name(&name)?;
    st.registry_synced().await?;
    if !st.store.delete_workflow(&name).await? {
        return Err(ApiError::not_found(format!("workflow `{name}`")));
    }
    registry::withdraw(&st.bus, &name)
        .await
        .map_err(|e| ApiError::Unavailable {
            message: format!(
                "workflow `{name}` was deleted but its triggers could not be stopped: the event \
                 bus is unavailable. They stop when the API next starts and syncs the registry."
            ),
            cause: e.to_string(),
        })?;
    tracing::info!(workflow = %name, "workflow deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The source format from `Content-Type`; none means YAML (JSON is YAML too).
fn body_format(headers: &HeaderMap) -> Result<Format, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(Format::Yaml);
    };
    let (text, essence) = crate::params::media_type(value);
    match essence.as_str() {
        "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => Ok(Format::Yaml),
        "application/json" => Ok(Format::Json),
        e if e.ends_with("+json") => Ok(Format::Json),
        e if e.ends_with("+yaml") => Ok(Format::Yaml),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "content type `{text}` is not accepted; send application/yaml or application/json"
        ))),
    }
}

/// A short description of each trigger of a stored definition.
fn triggers(record: &WorkflowRecord) -> Vec<String> {
    let Ok(wf) = serde_json::from_value::<Workflow>(record.definition.clone()) else {
        // A definition from an older model: name the trigger kinds at least.
        return record.definition["on"]
            .as_object()
            .map(|on| on.keys().cloned().collect())
            .unwrap_or_default();
    };
    let mut out: Vec<String> = wf
        .on
        .webhook
        .as_slice()
        .iter()
        .map(|w| format!("webhook:{}", w.path))
        .collect();
    for e in wf.on.event.as_slice() {
        match &e.ty {
            Some(weft_flow::StringMatch::Exact(t)) => out.push(format!("event:{t}")),
            _ => out.push("event".into()),
        }
    }
    if wf.on.manual.is_some() {
        out.push("manual".into());
    }
    out
}

/// The current definitions of the workflows `wf` reaches through `call`s (those that exist).
async fn called_workflows(
    st: &AppState,
    wf: &weft_flow::Workflow,
) -> Result<std::collections::HashMap<String, weft_flow::Workflow>, ApiError> {
    let mut known = std::collections::HashMap::new();
    let mut todo: Vec<String> = weft_flow::calls::targets(wf)
        .into_iter()
        .map(|(_, _, t)| t.to_string())
        .collect();
    while let Some(name) = todo.pop() {
        if name == wf.name || known.contains_key(&name) {
            continue;
        }
        let Some(record) = st.store.get_workflow(&name).await? else {
            continue;
        };
        let Ok(def) = serde_json::from_value::<weft_flow::Workflow>(record.definition) else {
            continue; // an older stored form: its calls were checked when it was applied
        };
        todo.extend(
            weft_flow::calls::targets(&def)
                .into_iter()
                .map(|(_, _, t)| t.to_string()),
        );
        known.insert(name, def);
    }
    Ok(known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        assert_eq!(body_format(&h).ok(), Some(Format::Yaml));
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().expect("header"),
        );
        assert_eq!(body_format(&h).ok(), Some(Format::Json));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().expect("header"));
        assert!(body_format(&h).is_err());
    }
}
