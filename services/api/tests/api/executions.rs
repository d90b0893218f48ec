//! Listing, reading and cancelling executions.

use std::collections::HashSet;

use serde_json::json;
use uuid::Uuid;
use weft_store::{
    AttemptStatus, ExecutionStatus, Store,
    engine::{self, NewExecution},
};

use crate::common::{self, apply_yaml, assert_error, call, hello};

/// Insert an execution in its own transaction (so each has its own `created_at`).
async fn insert(store: &Store, workflow: &str, status: ExecutionStatus, event_id: &str) -> Uuid {
    let id = weft_events::ids::execution_id(workflow, "weft/test", event_id);
    let event = json!({"id": event_id, "source": "weft/test", "type": "dev.weft.test"});
    let mut tx = store.begin().await.unwrap();
    let e = NewExecution {
        id,
        workflow,
        version: 1,
        status,
        event_id,
        event: &event,
        inputs: &json!({}),
    };
    assert!(engine::insert_execution(&mut tx, &e).await.unwrap());
    tx.commit().await.unwrap();
    id
}

#[tokio::test]
async fn list_filters_and_pages() {
    let env = common::env().await;
    let mut all = Vec::new();
    for (i, (wf, status)) in [
        ("a", ExecutionStatus::Queued),
        ("a", ExecutionStatus::Failed),
        ("b", ExecutionStatus::Queued),
        ("a", ExecutionStatus::Queued),
        ("b", ExecutionStatus::Failed),
    ]
    .into_iter()
    .enumerate()
    {
        all.push(insert(&env.store, wf, status, &format!("ev-{i}")).await);
    }

    let mut seen = Vec::new();
    let mut uri = "/api/v1/executions?limit=2".to_owned();
    loop {
        let (s, b) = call(&env.app, "GET", &uri, &[], "").await;
        assert_eq!(s, 200, "{b}");
        for item in b["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().parse::<Uuid>().unwrap());
            for key in ["workflow", "version", "status", "event_id", "created_at"] {
                assert!(!item[key].is_null(), "{key} missing in {item}");
            }
        }
        match b["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/v1/executions?limit=2&cursor={c}"),
            None => break,
        }
    }
    let newest_first: Vec<Uuid> = all.iter().rev().copied().collect();
    assert_eq!(seen, newest_first);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 5);

    let count = |b: &serde_json::Value| b["items"].as_array().unwrap().len();
    let (_, b) = call(&env.app, "GET", "/api/v1/executions?workflow=b", &[], "").await;
    assert_eq!(count(&b), 2);
    assert!(b["next_cursor"].is_null());
    let (_, b) = call(
        &env.app,
        "GET",
        "/api/v1/executions?workflow=a&status=queued",
        &[],
        "",
    )
    .await;
    assert_eq!(count(&b), 2);
    let (_, b) = call(&env.app, "GET", "/api/v1/executions?event_id=ev-2", &[], "").await;
    assert_eq!(count(&b), 1);
    assert_eq!(b["items"][0]["id"], all[2].to_string());

    for bad in ["status=bogus", "cursor=garbage", "limit=abc", "limit=0"] {
        let (s, b) = call(
            &env.app,
            "GET",
            &format!("/api/v1/executions?{bad}"),
            &[],
            "",
        )
        .await;
        assert_eq!(s, 400, "{bad}: {b}");
        assert_error(&b, "bad_request");
    }
}

#[tokio::test]
async fn detail_has_steps_and_attempts() {
    let env = common::env().await;
    let id = insert(&env.store, "a", ExecutionStatus::Queued, "ev-detail").await;
    let mut tx = env.store.begin().await.unwrap();
    engine::start_execution(&mut tx, id, &["first", "second"], chrono::Utc::now())
        .await
        .unwrap();
    let a1 = uuid::Uuid::now_v7();
    engine::insert_attempt(&mut tx, id, "first", 1, a1)
        .await
        .unwrap();
    let err = json!({"message": "boom"});
    engine::finish_attempt(&mut tx, a1, AttemptStatus::Failed, None, Some(&err))
        .await
        .unwrap();
    let a2 = uuid::Uuid::now_v7();
    engine::insert_attempt(&mut tx, id, "first", 2, a2)
        .await
        .unwrap();
    let out = json!({"status": 200});
    engine::finish_attempt(&mut tx, a2, AttemptStatus::Succeeded, Some(&out), None)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let (s, b) = call(
        &env.app,
        "GET",
        &format!("/api/v1/executions/{id}"),
        &[],
        "",
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["id"], id.to_string());
    assert_eq!(b["workflow"], "a");
    assert_eq!(b["status"], "running");
    assert_eq!(b["event"]["id"], "ev-detail");
    assert_eq!(b["inputs"], json!({}));
    assert!(b["started_at"].is_string());
    for key in ["finished_at", "output", "error"] {
        assert!(b.get(key).is_some_and(|v| v.is_null()), "{key} in {b}");
    }
    let steps = b["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    let first = steps.iter().find(|s| s["id"] == "first").unwrap();
    assert_eq!(first["status"], "running");
    let attempts = first["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        (&attempts[0]["n"], &attempts[0]["status"]),
        (&json!(1), &json!("failed"))
    );
    assert_eq!(attempts[0]["error"], err);
    assert!(attempts[0].get("output").is_none());
    assert_eq!(attempts[1]["output"], out);
    let second = steps.iter().find(|s| s["id"] == "second").unwrap();
    assert_eq!(
        (&second["status"], &second["attempts"]),
        (&json!("queued"), &json!([]))
    );
}

#[tokio::test]
async fn bad_and_unknown_ids() {
    let env = common::env().await;
    let (s, b) = call(&env.app, "GET", "/api/v1/executions/not-a-uuid", &[], "").await;
    assert_eq!(s, 400, "{b}");
    assert_error(&b, "bad_request");
    let unknown = Uuid::now_v7();
    let (s, b) = call(
        &env.app,
        "GET",
        &format!("/api/v1/executions/{unknown}"),
        &[],
        "",
    )
    .await;
    assert_eq!(s, 404, "{b}");
    assert_error(&b, "not_found");
    let uri = format!("/api/v1/executions/{unknown}/cancel");
    let (s, b) = call(&env.app, "POST", &uri, &[], "").await;
    assert_eq!(s, 404, "{b}");
    assert_error(&b, "not_found");
    let (s, b) = call(&env.app, "POST", "/api/v1/executions/xyz/cancel", &[], "").await;
    assert_eq!(s, 400, "{b}");
}

#[tokio::test]
async fn a_cancel_is_a_run_command_to_the_router_and_an_ended_run_conflicts() {
    let env = common::env().await;
    apply_yaml(&env.app, "hello", &hello("hello", "x")).await;
    let id = insert(&env.store, "hello", ExecutionStatus::Queued, "ev-cancel").await;
    let uri = format!("/api/v1/executions/{id}/cancel");
    let (s, b) = call(&env.app, "POST", &uri, &[], "").await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b, json!({"id": id.to_string(), "status": "cancelled"}));
    // No router runs here: the command waits on the bus for one.
    let wait = std::time::Duration::from_millis(500);
    let stored = weft_testkit::stored_messages(
        env.bus.jetstream(),
        weft_events::subjects::COMMANDS_STREAM,
        weft_events::subjects::COMMANDS_EXECUTIONS,
        0,
        wait,
    )
    .await
    .unwrap();
    assert_eq!(stored.len(), 1);
    let event: serde_json::Value = serde_json::from_slice(&stored[0].payload).unwrap();
    assert_eq!(event["type"], "dev.weft.command");
    assert_eq!(
        event["data"],
        json!({"kind": "cancel", "execution_id": id.to_string(), "reason": "cancelled by an operator"})
    );
    let done = insert(&env.store, "hello", ExecutionStatus::Succeeded, "ev-done").await;
    let uri = format!("/api/v1/executions/{done}/cancel");
    let (s, b) = call(&env.app, "POST", &uri, &[], "").await;
    assert_eq!(s, 409, "{b}");
    assert!(assert_error(&b, "conflict").contains("succeeded"));
}
