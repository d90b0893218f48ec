//! `GET /api/v1/agents` and `GET /api/v1/agents/{name}`: the agents steps may use — the built-in
//! ones (their committed documents, `schemas/agents/`) and every agent a running executor
//! announced in the `weft_agents` registry — with their schemas and live replicas; and the
//! [`Catalog`] that applying a workflow checks `uses:` and `with:` against.
//!
//! Consumes the registry bucket (through `weft_executor::registry::live`). Produces JSON.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use weft_executor::registry::{self, Announcement};
use weft_flow::Catalog;

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    extract::Path,
    params::{AgentPath, agent_name},
};

/// One live replica of an agent's executor.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplicaView {
    /// Replica id.
    pub id: String,
    /// Its host.
    pub host: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last announcement (every 10 s; entries older than 30 s are dropped).
    pub seen_at: DateTime<Utc>,
    /// Whether it can work.
    pub ready: bool,
    /// Why not, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An agent.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    /// The `uses:` name.
    pub name: String,
    /// Built into Weft (its schema is known even while no executor runs).
    pub builtin: bool,
    /// What it does.
    pub description: String,
    /// Version the newest live replica announced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// JSON Schema of a step's `with`.
    #[schema(value_type = Object)]
    pub input_schema: Value,
    /// JSON Schema of the step's output.
    #[schema(value_type = Object)]
    pub output_schema: Value,
    /// Live replicas of its executor.
    pub replicas: Vec<ReplicaView>,
}

/// The list of agents.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentList {
    /// By name.
    pub items: Vec<AgentView>,
}

/// Agents and their replicas.
#[utoipa::path(
    get, path = "/api/v1/agents", operation_id = "list_agents", tag = "agents",
    responses(
        (status = 200, description = "Built-in and announced agents", body = AgentList),
        (status = 503, description = "The event bus is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn list(State(state): State<Arc<AppState>>) -> Result<Json<AgentList>, ApiError> {
    let items = views(&registry::live(&state.bus).await?)
        .into_values()
        .collect();
    Ok(Json(AgentList { items }))
}

/// One agent.
#[utoipa::path(
    get, path = "/api/v1/agents/{name}", operation_id = "get_agent", tag = "agents",
    params(AgentPath),
    responses(
        (status = 200, description = "The agent", body = AgentView),
        (status = 400, description = "Not an agent name", body = ErrorBody),
        (status = 404, description = "Neither built in nor announced", body = ErrorBody),
        (status = 503, description = "The event bus is unavailable", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    agent_name(&name)?;
    views(&registry::live(&state.bus).await?)
        .remove(&name)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("agent `{name}`")))
}

/// What applying a workflow checks steps against: the built-in agents and the announced ones.
pub(crate) async fn catalog(state: &AppState) -> Result<Catalog, ApiError> {
    let mut catalog = Catalog::builtin();
    for a in registry::live(&state.bus).await? {
        if !catalog.contains(&a.name) {
            let schema = a.input_schema.is_object().then_some(a.input_schema);
            catalog.insert(&a.name, schema);
        }
    }
    Ok(catalog)
}

fn views(live: &[Announcement]) -> BTreeMap<String, AgentView> {
    let mut out = BTreeMap::new();
    for (name, doc) in weft_flow::agents::BUILTIN {
        let doc: Value = serde_json::from_str(doc).unwrap_or_default();
        out.insert(
            (*name).to_string(),
            AgentView {
                name: (*name).to_string(),
                builtin: true,
                description: doc["description"].as_str().unwrap_or_default().to_string(),
                version: None,
                input_schema: doc["with"].clone(),
                output_schema: doc["output"].clone(),
                replicas: Vec::new(),
            },
        );
    }
    for a in live {
        let view = out.entry(a.name.clone()).or_insert_with(|| AgentView {
            name: a.name.clone(),
            builtin: false,
            description: a.description.clone(),
            version: None,
            input_schema: a.input_schema.clone(),
            output_schema: a.output_schema.clone(),
            replicas: Vec::new(),
        });
        view.version = Some(a.version.clone());
        view.replicas.push(ReplicaView {
            id: a.replica.clone(),
            host: a.host.clone(),
            started_at: a.started_at,
            seen_at: a.seen_at,
            ready: a.ready,
            reason: a.reason.clone(),
        });
    }
    out
}
