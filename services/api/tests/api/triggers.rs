//! `GET /api/v1/triggers`: every service-run trigger of every live workflow, with what its
//! service reports (or `stopped` when nothing runs it).

use chrono::Utc;
use serde_json::json;
use weft_events::subjects::TRIGGERS_BUCKET;
use weft_trigger::{TriggerHealth, TriggerState};

use crate::common::{apply_yaml, call, env};

const CRON: &str = "name: nightly\non:\n  schedule:\n    - cron: '0 2 * * *'\n    - cron: '0 3 * * *'\nsteps:\n  a: {uses: http, with: {url: 'http://127.0.0.1:1/'}}\n";

#[tokio::test]
async fn lists_reported_unreported_and_stale_triggers() {
    let env = env().await;
    let (status, body) = apply_yaml(&env.app, "nightly", CRON).await;
    assert_eq!(status, 201, "{body}");
    let kv = env.bus.kv(TRIGGERS_BUCKET).await.unwrap();
    let fresh = TriggerHealth {
        workflow: "nightly".into(),
        kind: "schedule".into(),
        index: 0,
        state: TriggerState::Running,
        last_event_at: Some(Utc::now()),
        last_error: None,
        cursor: Some(json!({"last": "2026-11-22T02:00:00Z"})),
        events: 1,
        updated_at: Utc::now(),
    };
    kv.put(
        "nightly.schedule.0",
        serde_json::to_vec(&fresh).unwrap().into(),
    )
    .await
    .unwrap();
    let (status, list) = call(&env.app, "GET", "/api/v1/triggers", &[], "").await;
    assert_eq!(status, 200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    assert_eq!(items[0]["state"], "running");
    assert_eq!(items[0]["cursor"]["last"], "2026-11-22T02:00:00Z");
    assert_eq!(items[1]["state"], "stopped");
    assert!(
        items[1]["last_error"]
            .as_str()
            .unwrap()
            .contains("no cron service")
    );

    // A report that stopped coming in is an error, not a silent "running".
    let stale = TriggerHealth {
        updated_at: Utc::now() - chrono::Duration::minutes(5),
        ..fresh
    };
    kv.put(
        "nightly.schedule.0",
        serde_json::to_vec(&stale).unwrap().into(),
    )
    .await
    .unwrap();
    let (_, list) = call(&env.app, "GET", "/api/v1/triggers", &[], "").await;
    assert_eq!(list["items"][0]["state"], "error");
    assert!(
        list["items"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("no report")
    );
}
