//! `POST /api/v1/workflows/{name}/run`: a manual run.
//!
//! Consumes an optional JSON body `{"inputs": {…}}` and an optional `Idempotency-Key` header;
//! checks the inputs against `on.manual.inputs`. In one transaction it inserts a `queued`
//! execution and writes a `dev.weft.manual.requested` CloudEvent to the outbox for
//! `weft.events.manual`, then publishes it at once; if that publish fails the event is still
//! durable and the router's outbox sweeper publishes it.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;
use weft_events::{event_json, ids, new_event, subjects, trace, types};
use weft_flow::{InputType, ManualTrigger};
use weft_store::{
    ExecutionStatus,
    engine::{self, NewExecution},
    outbox::{self, OutboxMessage},
};

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    extract::{Body, Path},
    params::{IdempotencyHeader, WorkflowPath, idempotency_key, json_content_type, workflow_name},
    registry,
};

/// Body of a manual run (optional as a whole).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Values of the inputs declared under `on.manual.inputs`.
    #[serde(default)]
    pub inputs: Map<String, Value>,
}

/// Answer to a manual run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunResponse {
    /// The execution that will run (queued now).
    pub execution_id: Uuid,
    /// The `dev.weft.manual.requested` event that triggers it.
    pub event_id: String,
}

/// Request a run of a workflow; the execution is queued and the router starts it.
#[utoipa::path(
    post, path = "/api/v1/workflows/{name}/run", operation_id = "run_workflow", tag = "workflows",
    params(WorkflowPath, IdempotencyHeader),
    request_body(content = RunRequest, content_type = "application/json",
        description = "Optional: an empty body runs without inputs. Also accepted: \
                       `application/*+json`, and no `Content-Type` at all."),
    responses(
        (status = 202, description = "Queued", body = RunResponse),
        (status = 400, description = "Inputs that are unknown, missing or of the wrong type, \
            or hold U+0000 (`invalid_text`); a body that is not a run request, an invalid \
            `Idempotency-Key` or workflow name (`bad_request`)", body = ErrorBody),
        (status = 404, description = "Unknown workflow", body = ErrorBody),
    )
)]
pub(crate) async fn run(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<(StatusCode, Json<RunResponse>), ApiError> {
    workflow_name(&name)?;
    let key = idempotency_key(&headers)?;
    let request = parse_body(&headers, &body)?;
    let record = st
        .store
        .get_workflow(&name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("workflow `{name}`")))?;
    let workflow = registry::decode(&record)?;
    let inputs = check_inputs(workflow.on.manual.as_ref(), request.inputs)?;
    let event_id = ids::new_event_id(&format!("manual/{name}"), key);
    let parent = headers
        .get(trace::TRACEPARENT)
        .and_then(|v| v.to_str().ok());
    let queued = Queued {
        workflow: &name,
        version: record.current_version,
        event_id,
        inputs,
        data: json!({}),
        seen_event: None,
    };
    let response = queue(&st, queued, parent).await?;
    Ok((StatusCode::ACCEPTED, Json(response)))
}

/// A run to queue.
pub(crate) struct Queued<'a> {
    /// Workflow name.
    pub workflow: &'a str,
    /// Version to run.
    pub version: i32,
    /// Id of the `dev.weft.manual.requested` event that announces the run.
    pub event_id: String,
    /// Inputs of the run.
    pub inputs: Value,
    /// Extra fields for the announcing event's data (besides `workflow` and `inputs`).
    pub data: Value,
    /// The triggering event the execution sees as `event` (a retry keeps the original's);
    /// `None`: the announcing event itself.
    pub seen_event: Option<Value>,
}

/// Queue a new run of ended execution `exec` (a retry, a rerun) at `version`: it sees the same
/// event and inputs, continues its trace, and announces itself with `data`; its event id
/// derives from `key` (the request's `Idempotency-Key`) within `scope` when given.
pub(crate) async fn requeue(
    st: &AppState,
    exec: &weft_store::executions::ExecutionRow,
    version: i32,
    scope: &str,
    key: Option<&str>,
    data: Value,
) -> Result<RunResponse, ApiError> {
    let event_id = ids::new_event_id(scope, key);
    let parent = trace::from_json(&exec.event).map(str::to_string);
    let run = Queued {
        workflow: &exec.workflow,
        version,
        event_id,
        inputs: exec.inputs.clone(),
        data,
        seen_event: Some(exec.event.clone()),
    };
    queue(st, run, parent.as_deref()).await
}

/// Insert a `queued` execution and its announcing event in one transaction, then publish the
/// event (the router starts the run when it sees it; if this publish fails, the router's
/// outbox sweeper publishes it). Idempotent: the same event id queues nothing new.
pub(crate) async fn queue(
    st: &AppState,
    run: Queued<'_>,
    parent_trace: Option<&str>,
) -> Result<RunResponse, ApiError> {
    let Queued {
        workflow,
        version,
        event_id,
        inputs,
        data,
        seen_event,
    } = run;
    let execution_id = ids::execution_id(workflow, types::SOURCE_API, &event_id);
    let mut payload = json!({"workflow": workflow, "inputs": inputs});
    if let (Some(p), Value::Object(extra)) = (payload.as_object_mut(), data) {
        p.extend(extra);
    }
    let mut event = new_event(
        event_id.clone(),
        types::MANUAL_REQUESTED,
        types::SOURCE_API,
        Some(workflow),
        payload,
    );
    trace::set(&mut event, &trace::child_of(parent_trace));
    let seen_event = seen_event.unwrap_or_else(|| event_json(&event));
    let msg = OutboxMessage::event(subjects::EVENTS_MANUAL, &event);
    let mut tx = st.store.begin().await?;
    let inserted = engine::insert_execution(
        &mut tx,
        &NewExecution {
            id: execution_id,
            workflow,
            version,
            status: ExecutionStatus::Queued,
            event_id: &event_id,
            event: &seen_event,
            inputs: &inputs,
        },
    )
    .await?;
    if inserted {
        outbox::enqueue(&mut tx, &msg).await?;
    }
    weft_store::commit(tx, "committing a manual run").await?;
    if inserted {
        if st.store.flush_outbox(&st.bus, vec![msg]).await == 0 {
            tracing::warn!(%event_id, "run queued; its event waits in the outbox");
        }
        tracing::info!(%workflow, %execution_id, %event_id, "run requested");
    }
    Ok(RunResponse {
        execution_id,
        event_id,
    })
}

/// An empty body means no inputs; otherwise JSON.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<RunRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(RunRequest::default());
    }
    json_content_type(headers)?;
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid run request: {e}")))
}

/// Check inputs against the declared ones and fill defaults. Without `on.manual` the inputs
/// pass as given; with it, unknown inputs are refused.
fn check_inputs(
    manual: Option<&ManualTrigger>,
    mut given: Map<String, Value>,
) -> Result<Value, ApiError> {
    let Some(manual) = manual else {
        return Ok(Value::Object(given));
    };
    if let Some(unknown) = given
        .keys()
        .find(|k| !manual.inputs.contains_key(k.as_str()))
    {
        let declared: Vec<&str> = manual.inputs.keys().map(String::as_str).collect();
        return Err(ApiError::BadRequest(format!(
            "unknown input `{unknown}`; declared inputs: [{}]",
            declared.join(", ")
        )));
    }
    let mut out = Map::new();
    for (name, spec) in &manual.inputs {
        let value = match (given.remove(name), &spec.default) {
            (Some(v), _) => v,
            (None, Some(default)) => default.clone(),
            (None, None) if spec.required => {
                return Err(ApiError::BadRequest(format!("input `{name}` is required")));
            }
            (None, None) => continue,
        };
        if let Some(ty) = spec.ty
            && !has_type(&value, ty)
        {
            return Err(ApiError::BadRequest(format!(
                "input `{name}` must be of type {}, got {value}",
                type_name(ty)
            )));
        }
        out.insert(name.clone(), value);
    }
    Ok(Value::Object(out))
}

fn has_type(v: &Value, ty: InputType) -> bool {
    match ty {
        InputType::String => v.is_string(),
        InputType::Number => v.is_number(),
        InputType::Integer => {
            v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        InputType::Boolean => v.is_boolean(),
        InputType::Object => v.is_object(),
        InputType::Array => v.is_array(),
    }
}

fn type_name(ty: InputType) -> &'static str {
    match ty {
        InputType::String => "string",
        InputType::Number => "number",
        InputType::Integer => "integer",
        InputType::Boolean => "boolean",
        InputType::Object => "object",
        InputType::Array => "array",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_flow::InputSpec;

    fn manual() -> ManualTrigger {
        let mut m = ManualTrigger::default();
        let spec = |ty, required, default| InputSpec {
            description: None,
            ty: Some(ty),
            required,
            default,
        };
        m.inputs
            .insert("who".into(), spec(InputType::String, true, None));
        m.inputs
            .insert("n".into(), spec(InputType::Integer, false, Some(json!(3))));
        m.inputs
            .insert("opt".into(), spec(InputType::Boolean, false, None));
        m
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn inputs_are_checked_and_defaulted() {
        let m = manual();
        let ok = check_inputs(Some(&m), obj(json!({"who": "ann"}))).expect("valid");
        assert_eq!(ok, json!({"who": "ann", "n": 3}));
        let err = check_inputs(Some(&m), obj(json!({}))).expect_err("missing");
        assert!(err.to_string().contains("`who`"));
        let err = check_inputs(Some(&m), obj(json!({"who": 1}))).expect_err("type");
        assert!(err.to_string().contains("string"));
        assert!(check_inputs(Some(&m), obj(json!({"who": "a", "x": 1}))).is_err());
        let free = check_inputs(None, obj(json!({"x": 1}))).expect("undeclared");
        assert_eq!(free, json!({"x": 1}));
    }
}
