//! Which active workflows an event starts.
//!
//! Matching rules: `dev.weft.webhook.received` from `weft/webhook/…` matches `on.webhook.path`
//! against the event subject (the path), and only for the workflows the webhook named in the
//! `weftworkflows` extension (those whose `auth` the request satisfied; without the extension,
//! only triggers without `auth`); `dev.weft.manual.requested` matches the workflow named by its
//! subject; an event of a trigger service (`weft/<kind>/<workflow>`,
//! kinds `email`, `file`, `s3`, `schedule`, `cdc`) starts the workflow it names while that
//! workflow has such a trigger; a terminal `dev.weft.execution.*` event from the router matches `on.workflow` when
//! its data names the upstream workflow and a listed status; any event matches `on.event` when
//! every given field (`type`, `source`, `subject`) matches. A workflow never matches the
//! lifecycle events of its own executions, so it cannot trigger itself in a loop.

use cloudevents::{AttributesReader, Event};
use weft_events::types;
use weft_flow::{Published, WebhookTrigger, Workflow};

/// Whether `event` starts `published`.
pub fn matches(published: &Published, event: &Event, data: &serde_json::Value) -> bool {
    let wf = &published.workflow;
    let ty = event.ty();
    let source = event.source().as_str();
    let subject = event.subject().unwrap_or_default();
    if ty == types::MANUAL_REQUESTED && source == types::SOURCE_API {
        return subject == wf.name;
    }
    if ty.starts_with("dev.weft.execution.") && data["workflow"].as_str() == Some(&wf.name) {
        return false;
    }
    if let Some(count) = service_triggers_named(&wf.on, source, &wf.name) {
        return count > 0;
    }
    let webhook = ty == types::WEBHOOK_RECEIVED
        && source.starts_with(types::SOURCE_WEBHOOK)
        && wf
            .on
            .webhook
            .as_slice()
            .iter()
            .any(|w| w.path == subject && webhook_accepted(event, &wf.name, w));
    webhook
        || upstream_ended(wf, event, data)
        || wf.on.event.as_slice().iter().any(|t| {
            let any = t.ty.is_some() || t.source.is_some() || t.subject.is_some();
            any && t.ty.as_ref().is_none_or(|m| m.matches(ty))
                && t.source.as_ref().is_none_or(|m| m.matches(source))
                && t.subject.as_ref().is_none_or(|m| m.matches(subject))
        })
}

/// When `source` is `weft/<kind>/<workflow>` for this workflow and a service-run kind: how many
/// triggers of that kind the workflow has.
fn service_triggers_named(on: &weft_flow::Triggers, source: &str, workflow: &str) -> Option<usize> {
    let (kind, name) = source.strip_prefix("weft/")?.split_once('/')?;
    if name != workflow {
        return None;
    }
    on.service_kinds()
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, n)| *n)
}

/// Whether the webhook accepted the request for `workflow`: it is named in the event's
/// `weftworkflows` list, or (an event without the list) the trigger has no `auth`.
fn webhook_accepted(event: &Event, workflow: &str, trigger: &WebhookTrigger) -> bool {
    match event.extension(types::EXT_WEBHOOK_WORKFLOWS) {
        Some(list) => list.to_string().split(',').any(|n| n == workflow),
        None => trigger.auth.is_none(),
    }
}

/// Whether `event` is the end of an execution of a workflow that `wf.on.workflow` listens to.
fn upstream_ended(wf: &Workflow, event: &Event, data: &serde_json::Value) -> bool {
    let terminal = [
        types::EXECUTION_SUCCEEDED,
        types::EXECUTION_FAILED,
        types::EXECUTION_CANCELLED,
        types::EXECUTION_TIMED_OUT,
    ];
    if wf.on.workflow.is_empty()
        || !terminal.contains(&event.ty())
        || event.source().as_str() != types::SOURCE_ROUTER
    {
        return false;
    }
    let (Some(upstream), Some(status)) = (data["workflow"].as_str(), data["status"].as_str())
    else {
        return false;
    };
    wf.on
        .workflow
        .as_slice()
        .iter()
        .any(|t| t.matches(upstream, status))
}

/// Whether the event is a manual run request (the workflow `if` does not apply to those: the
/// operator asked for this run).
pub fn is_manual(event: &Event) -> bool {
    event.ty() == types::MANUAL_REQUESTED && event.source().as_str() == types::SOURCE_API
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use weft_flow::Workflow;

    use super::*;

    fn published(on: serde_json::Value) -> Published {
        let wf: Workflow = serde_json::from_value(json!({
            "name": "wf", "on": on, "steps": {"a": {"uses": "http"}}
        }))
        .expect("workflow");
        Published {
            version: 1,
            workflow: wf,
        }
    }

    fn event(ty: &str, source: &str, subject: &str, data: serde_json::Value) -> Event {
        weft_events::new_event("e", ty, source, Some(subject), data)
    }

    #[test]
    fn webhook_by_path() {
        let p = published(json!({"webhook": {"path": "orders"}}));
        let yes = event(
            types::WEBHOOK_RECEIVED,
            "weft/webhook/orders",
            "orders",
            json!({}),
        );
        let no = event(
            types::WEBHOOK_RECEIVED,
            "weft/webhook/other",
            "other",
            json!({}),
        );
        assert!(matches(&p, &yes, &json!({})));
        assert!(!matches(&p, &no, &json!({})));
    }

    #[test]
    fn event_by_type_and_source_prefix() {
        let p =
            published(json!({"event": [{"type": "com.x.created", "source": {"prefix": "x/"}}]}));
        assert!(matches(
            &p,
            &event("com.x.created", "x/1", "", json!({})),
            &json!({})
        ));
        assert!(!matches(
            &p,
            &event("com.x.created", "y/1", "", json!({})),
            &json!({})
        ));
        assert!(!matches(
            &p,
            &event("com.x.deleted", "x/1", "", json!({})),
            &json!({})
        ));
    }

    #[test]
    fn trigger_service_events_start_only_their_workflow() {
        let p = published(json!({"schedule": {"cron": "@hourly"}}));
        let own = event(types::SCHEDULE_FIRED, "weft/schedule/wf", "", json!({}));
        let other = event(types::SCHEDULE_FIRED, "weft/schedule/wf2", "", json!({}));
        let wrong_kind = event(types::EMAIL_RECEIVED, "weft/email/wf", "", json!({}));
        assert!(matches(&p, &own, &json!({})));
        assert!(!matches(&p, &other, &json!({})));
        assert!(!matches(&p, &wrong_kind, &json!({})));
    }

    #[test]
    fn a_webhook_path_named_like_its_workflow_still_matches() {
        let p = published(json!({"webhook": {"path": "wf"}}));
        let ev = event(types::WEBHOOK_RECEIVED, "weft/webhook/wf", "wf", json!({}));
        assert!(matches(&p, &ev, &json!({})));
    }

    #[test]
    fn manual_by_name_only() {
        let p = published(json!({}));
        assert!(matches(
            &p,
            &event(types::MANUAL_REQUESTED, types::SOURCE_API, "wf", json!({})),
            &json!({})
        ));
        assert!(!matches(
            &p,
            &event(
                types::MANUAL_REQUESTED,
                types::SOURCE_API,
                "other",
                json!({})
            ),
            &json!({})
        ));
    }

    #[test]
    fn webhook_only_for_the_workflows_whose_auth_passed() {
        let open = published(json!({"webhook": {"path": "p"}}));
        let signed = published(
            json!({"webhook": {"path": "p", "auth": {"token": {"header": "x-t", "value": "v"}}}}),
        );
        let mut ev = event(types::WEBHOOK_RECEIVED, "weft/webhook/p", "p", json!({}));
        assert!(matches(&open, &ev, &json!({})));
        assert!(
            !matches(&signed, &ev, &json!({})),
            "no list: only triggers without auth"
        );
        ev.set_extension(types::EXT_WEBHOOK_WORKFLOWS, "other,wf-2");
        assert!(!matches(&open, &ev, &json!({})));
        ev.set_extension(types::EXT_WEBHOOK_WORKFLOWS, "other,wf");
        assert!(matches(&signed, &ev, &json!({})));
    }

    #[test]
    fn workflow_by_upstream_name_and_status() {
        let p = published(
            json!({"workflow": [{"name": "up"}, {"name": "other", "status": ["failed", "timed_out"]}]}),
        );
        let ended = |ty: &str, source: &str| event(ty, source, "x", json!({}));
        let ok = ended(types::EXECUTION_SUCCEEDED, types::SOURCE_ROUTER);
        let data = |wf: &str, status: &str| json!({"workflow": wf, "status": status});
        assert!(matches(&p, &ok, &data("up", "succeeded")));
        assert!(!matches(&p, &ok, &data("nobody", "succeeded")));
        let failed = ended(types::EXECUTION_FAILED, types::SOURCE_ROUTER);
        assert!(
            !matches(&p, &failed, &data("up", "failed")),
            "status defaults to succeeded"
        );
        assert!(matches(&p, &failed, &data("other", "failed")));
        let started = ended(types::EXECUTION_STARTED, types::SOURCE_ROUTER);
        assert!(!matches(&p, &started, &data("up", "running")));
        let forged = ended(types::EXECUTION_SUCCEEDED, "elsewhere");
        assert!(!matches(&p, &forged, &data("up", "succeeded")));
    }

    #[test]
    fn never_its_own_lifecycle() {
        let p = published(json!({"event": {"type": {"prefix": "dev.weft.execution."}}}));
        let own = json!({"workflow": "wf"});
        let other = json!({"workflow": "upstream"});
        let ev = event(
            types::EXECUTION_SUCCEEDED,
            types::SOURCE_ROUTER,
            "",
            json!({}),
        );
        assert!(!matches(&p, &ev, &own));
        assert!(matches(&p, &ev, &other));
    }
}
