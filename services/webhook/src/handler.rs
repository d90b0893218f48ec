//! `POST /hooks/{*path}`: one HTTP request in, one CloudEvent on the bus, then 202.
//!
//! Consumes the request and the live route table ([`Registry`]); checks `on.webhook.auth`
//! (401 and nothing published when no workflow on the path accepts the request); produces a
//! `dev.weft.webhook.received` event on `weft.events.webhook` that names the accepted workflows
//! (extension `weftworkflows`), published with a JetStream ack before the answer, so a 202 means
//! the event is stored and a 503 means nothing was accepted. With `respond: wait` the answer
//! waits for the execution's lifecycle event (see [`crate::respond`]).
//! (After a publish *timeout* the event may still land late; a sender that retries with an
//! `Idempotency-Key` gets the same event id, which JetStream deduplicates.)
//! Counts requests by outcome in `weft_webhook_requests_total`.

use std::{sync::Arc, time::SystemTime};

use axum::{
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, Method, Uri, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use cloudevents::{AttributesReader, Event};
use weft_bus::Bus;
use weft_events::{ids, subjects, trace, types};

use crate::{
    HookError, WebhookConfig, auth,
    payload::{self, PayloadError},
    registry::{Lookup, Registry, normalize},
    respond,
    waiter::Waiters,
};

/// What the handler needs, shared by every request.
#[derive(Debug, Clone)]
pub struct HookState {
    /// Settings.
    pub config: WebhookConfig,
    /// Where events go.
    pub bus: Bus,
    /// Which paths exist.
    pub registry: Registry,
    /// Requests waiting for their execution (`respond: wait`).
    pub waiters: Waiters,
    /// Resolves `${{ secrets.NAME }}` in `auth`.
    pub secrets: weft_secrets::Secrets,
}

/// The handler: answers 202 `{"event_id"}` (or, with `respond: wait`, the execution's outcome)
/// or a [`HookError`].
pub async fn receive(
    State(state): State<Arc<HookState>>,
    Path(path): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = normalize(&path).to_string();
    let result = accept(&state, &path, &method, &uri, &headers, body).await;
    let outcome = match &result {
        Ok(_) => "accepted",
        Err(e) => e.outcome(),
    };
    metrics::counter!("weft_webhook_requests_total", "outcome" => outcome).increment(1);
    match result {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!(%path, outcome, error = %e, "webhook refused");
            e.into_response()
        }
    }
}

async fn accept(
    state: &HookState,
    path: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, HookError> {
    if path.contains(weft_events::text::NUL) {
        let at = "the path".to_string();
        return Err(HookError::InvalidText(PayloadError::Nul { at }.to_string()));
    }
    let routes = match state.registry.lookup(path) {
        Lookup::NotLoaded => return Err(HookError::NotReady),
        Lookup::Unknown => return Err(HookError::NotFound { path: path.into() }),
        Lookup::Known(routes) => routes,
    };
    let body = read_body(headers, body, state.config.max_body_bytes).await?;
    let accepted = auth::authorize(&routes, &state.secrets, headers, &body, SystemTime::now())
        .map_err(|e| HookError::Unauthorized(e.to_string()))?;
    let secret_headers: Vec<String> = routes
        .iter()
        .filter_map(|r| r.trigger.auth.as_ref())
        .flat_map(|a| a.secret_headers())
        .collect();
    let data = payload::event_data(method, path, uri, headers, &body, &secret_headers).map_err(
        |e| match e {
            PayloadError::InvalidJson(_) | PayloadError::InvalidQuery(_) => {
                HookError::BadRequest(e.to_string())
            }
            PayloadError::Nul { .. } => HookError::InvalidText(e.to_string()),
        },
    )?;
    let event_id = ids::new_event_id(
        &format!("webhook/{path}"),
        payload::idempotency_key(headers),
    );
    let source = format!("{}/{path}", types::SOURCE_WEBHOOK);
    let mut event = weft_events::new_event(
        &event_id,
        types::WEBHOOK_RECEIVED,
        &source,
        Some(path),
        data,
    );
    let names: Vec<&str> = accepted.iter().map(|r| r.workflow.as_str()).collect();
    event.set_extension(types::EXT_WEBHOOK_WORKFLOWS, names.join(","));
    // Continue the caller's trace when it sent one (W3C `traceparent`), else start one.
    let parent = headers
        .get(trace::TRACEPARENT)
        .and_then(|v| v.to_str().ok());
    trace::set(&mut event, &trace::child_of(parent));
    // Register BEFORE publishing, so that a fast execution cannot end unseen.
    let wait = respond::wait_target(&accepted, &event);
    let waiting = match wait {
        Some(route) => {
            if !state.waiters.ready(state.config.publish_timeout()).await {
                tracing::warn!(%path, "lifecycle subscription not ready; nothing accepted");
                return Err(HookError::Unavailable);
            }
            let id = ids::execution_id(&route.workflow, &source, &event_id);
            Some((route, id, state.waiters.register(id)))
        }
        None => None,
    };
    publish(state, path, &event).await?;
    Ok(match waiting {
        Some((route, id, waiting)) => {
            let ended = waiting.ended(route.trigger.wait_timeout).await;
            respond::answer(&event_id, id, ended)
        }
        None => respond::accepted(&event_id, wait.is_none() && respond::wanted(&accepted)),
    })
}

/// Publish with a JetStream ack within the configured time, else [`HookError::Unavailable`].
async fn publish(state: &HookState, path: &str, event: &Event) -> Result<(), HookError> {
    let publish = state.bus.publish_event(subjects::EVENTS_WEBHOOK, event);
    let event_id = event.id();
    match tokio::time::timeout(state.config.publish_timeout(), publish).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::warn!(%path, %event_id, error = %e, "webhook event not published");
            Err(HookError::Unavailable)
        }
        Err(_) => {
            tracing::warn!(%path, %event_id, "webhook event not acknowledged in time");
            Err(HookError::Unavailable)
        }
    }
}

/// Read the body, refusing early on a Content-Length above `limit`.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, HookError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(HookError::TooLarge { limit });
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if weft_runtime::http::is_length_limit(&e) {
            HookError::TooLarge { limit }
        } else {
            HookError::BadRequest(format!("cannot read the body: {e}"))
        }
    })
}
