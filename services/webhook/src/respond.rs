//! The answer of a webhook request: 202 at once (`respond: accepted`), or the execution's
//! outcome (`respond: wait`).
//!
//! Consumes the accepted routes, the event and, when waiting, the [`Ended`] outcome; produces the
//! HTTP response:
//! - `accepted`: 202 `{event_id}`;
//! - `wait`, succeeded: 200 with the execution's output as the JSON body and header
//!   `x-weft-execution-id`;
//! - `wait`, failed / timed_out / cancelled: 500 `{code, message, execution_id, error}`;
//! - `wait`, `wait_timeout` ran out: 202 `{event_id, execution_id}` (the execution goes on);
//! - `wait`, but the workflow `if` is false for this request: no execution will exist, so 202
//!   `{event_id, execution_id: null}` at once instead of waiting for nothing.
//!
//! When several accepted workflows on the path ask to wait, the first by name is waited for;
//! the others run as usual. Touches nothing.

use axum::{
    Json,
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use cloudevents::Event;
use serde_json::{Value, json};
use uuid::Uuid;
use weft_flow::Respond;

use crate::{registry::Route, waiter::Ended};

/// Response header naming the execution a `respond: wait` answer is about.
pub const EXECUTION_HEADER: &str = "x-weft-execution-id";

/// Whether any accepted workflow asked to wait.
pub fn wanted(accepted: &[&Route]) -> bool {
    accepted.iter().any(|r| r.trigger.respond == Respond::Wait)
}

/// The route to wait for: the first accepted `respond: wait` route whose workflow `if` holds
/// for the event. An `if` that cannot be evaluated counts as holding: the router then fails the
/// execution, and the caller gets that failure. It is evaluated under the small budget
/// (`Limits::FAST`), on the request's task: an expensive `if` counts as holding too, and the
/// router, which evaluates it under the full budget away from the async workers, decides.
pub fn wait_target<'a>(accepted: &[&'a Route], event: &Event) -> Option<&'a Route> {
    let mut context = None;
    accepted.iter().copied().find(|r| {
        r.trigger.respond == Respond::Wait
            && r.condition.as_ref().is_none_or(|cond| {
                let ctx = context.get_or_insert_with(|| {
                    json!({"event": weft_events::event_json(event), "inputs": {}, "steps": {}, "execution": {}})
                });
                weft_flow::eval_condition_within(cond, ctx, &weft_flow::Limits::FAST).unwrap_or(true)
            })
    })
}

/// 202 without waiting; `filtered` when a workflow wanted to wait but its `if` is false.
pub fn accepted(event_id: &str, filtered: bool) -> Response {
    let body = if filtered {
        json!({"event_id": event_id, "execution_id": null})
    } else {
        json!({"event_id": event_id})
    };
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// The answer after waiting for `execution` (`None`: the wait timed out).
pub fn answer(event_id: &str, execution: Uuid, ended: Option<Ended>) -> Response {
    let Some(ended) = ended else {
        let body = json!({"event_id": event_id, "execution_id": execution});
        return (StatusCode::ACCEPTED, Json(body)).into_response();
    };
    let mut response = if ended.status == "succeeded" {
        (StatusCode::OK, Json(ended.output)).into_response()
    } else {
        let code = text(&ended.error, "code")
            .unwrap_or(&ended.status)
            .to_string();
        let message = text(&ended.error, "message")
            .map(str::to_string)
            .unwrap_or_else(|| format!("the execution ended {}", ended.status));
        let body = json!({
            "code": code,
            "message": message,
            "execution_id": execution,
            "error": ended.error,
        });
        (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&execution.to_string()) {
        response.headers_mut().insert(EXECUTION_HEADER, v);
    }
    response
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}
