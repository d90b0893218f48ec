//! The OpenAPI 3.1 document of the admin API, generated from the handlers' `#[utoipa::path]`
//! annotations and the request/response types; served at `GET /api/v1/openapi.json`.
//!
//! Consumes nothing at run time beyond the generated description; touches nothing.

use axum::Json;
use utoipa::OpenApi;

use crate::{executions, retry, runs, secrets, triggers, workflows};

/// The admin API's OpenAPI document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Weft admin API",
        description = "Workflows, runs and executions. Errors are JSON `{\"code\", \"message\"}`."
    ),
    paths(
        workflows::list,
        workflows::apply,
        workflows::get,
        workflows::versions,
        workflows::delete,
        runs::run,
        executions::list,
        executions::get,
        executions::cancel,
        retry::retry,
        secrets::put,
        secrets::list,
        secrets::delete,
        triggers::list,
        document,
    ),
    tags(
        (name = "workflows", description = "Workflow definitions and manual runs"),
        (name = "executions", description = "Execution history and control"),
        (name = "secrets", description = "Sealed values referenced as `${{ secrets.NAME }}`"),
        (name = "triggers", description = "Health of the triggers run by trigger services"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", operation_id = "openapi_document", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
