//! The router's transactional writes: idempotent execution inserts, the execution row lock,
//! steps and attempts, and cancelling what has not finished.

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;
use weft_store::{
    AttemptStatus, ExecutionStatus, StepStatus,
    engine::{self, NewExecution},
};

use crate::common;

#[tokio::test]
async fn inserting_an_execution_twice_keeps_the_first() {
    let pg = common::pg().await;
    let store = &pg.store;
    let id = common::insert_execution(store, "wf", "ev-1").await;

    let event = json!({"id": "ev-1", "other": true});
    let inputs = json!({"x": 1});
    let again = NewExecution {
        id,
        workflow: "wf",
        version: 7,
        status: ExecutionStatus::Failed,
        event_id: "ev-1",
        event: &event,
        inputs: &inputs,
    };
    let mut tx = store.begin().await.unwrap();
    assert!(!engine::insert_execution(&mut tx, &again).await.unwrap());
    weft_store::commit(tx, "re-inserting").await.unwrap();

    let row = store.get_execution(id).await.unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.version), ("queued", 1));
    assert_eq!(row.inputs, json!({}));
    let (rows, _) = store
        .list_executions(&weft_store::executions::ExecutionFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
}

#[tokio::test]
async fn steps_attempts_and_cancel() {
    let pg = common::pg().await;
    let store = &pg.store;
    let id = common::insert_execution(store, "wf", "ev-1").await;

    let mut tx = store.begin().await.unwrap();
    assert!(
        engine::lock_execution(&mut tx, Uuid::now_v7())
            .await
            .unwrap()
            .is_none()
    );
    let row = engine::lock_execution(&mut tx, id).await.unwrap().unwrap();
    assert_eq!(row.status, "queued");
    assert!(row.started_at.is_none());
    engine::start_execution(&mut tx, id, &["a", "b", "c"], chrono::Utc::now())
        .await
        .unwrap();
    let mut steps = engine::live_steps(&mut tx, id).await.unwrap();
    steps.sort_by(|x, y| x.step_id.cmp(&y.step_id));
    let got: Vec<(&str, &str, i32)> = steps
        .iter()
        .map(|s| (s.step_id.as_str(), s.status.as_str(), s.attempts))
        .collect();
    assert_eq!(
        got,
        [("a", "queued", 0), ("b", "queued", 0), ("c", "queued", 0)]
    );

    // a: attempt 1 fails, attempt 2 runs. b: attempt 1 succeeds. c: never dispatched.
    let a1 = uuid::Uuid::now_v7();
    engine::insert_attempt(&mut tx, id, "a", 1, a1)
        .await
        .unwrap();
    let step_a =
        |steps: Vec<engine::LiveStep>| steps.into_iter().find(|s| s.step_id == "a").unwrap();
    let a = step_a(engine::live_steps(&mut tx, id).await.unwrap());
    assert_eq!((a.status.as_str(), a.attempts), ("running", 1));
    let started: bool = sqlx::query_scalar(
        "SELECT started_at IS NOT NULL FROM steps WHERE execution_id = $1 AND step_id = 'a'",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert!(started);
    engine::finish_attempt(
        &mut tx,
        a1,
        AttemptStatus::Failed,
        None,
        Some(&json!({"code": "x"})),
    )
    .await
    .unwrap();
    let a2 = uuid::Uuid::now_v7();
    engine::insert_attempt(&mut tx, id, "a", 2, a2)
        .await
        .unwrap();
    let a = step_a(engine::live_steps(&mut tx, id).await.unwrap());
    assert_eq!((a.status.as_str(), a.attempts), ("running", 2));
    // The step's latest attempt comes with it.
    assert_eq!(
        (a.attempt_id, a.attempt_status.as_deref()),
        (Some(a2), Some("running"))
    );

    let b1 = uuid::Uuid::now_v7();
    engine::insert_attempt(&mut tx, id, "b", 1, b1)
        .await
        .unwrap();
    let out = json!({"ok": true});
    engine::finish_attempt(&mut tx, b1, AttemptStatus::Succeeded, Some(&out), None)
        .await
        .unwrap();
    engine::set_step(&mut tx, id, "b", StepStatus::Succeeded, Some(&out), None)
        .await
        .unwrap();
    weft_store::commit(tx, "running steps").await.unwrap();
    let row = store.get_execution(id).await.unwrap().unwrap();
    assert_eq!(row.status, "running");
    assert!(row.started_at.is_some());

    let reason = json!({"code": "cancelled"});
    let mut tx = store.begin().await.unwrap();
    engine::lock_execution(&mut tx, id).await.unwrap().unwrap();
    // What the router writes for a cancel: the running attempt and the unfinished steps end.
    let cancelled = Some(StepStatus::Cancelled);
    let ended = engine::finish_running_attempt(
        &mut tx,
        a2,
        AttemptStatus::Cancelled,
        id,
        "a",
        cancelled,
        None,
        Some(&reason),
    )
    .await
    .unwrap();
    assert!(ended);
    engine::set_step(&mut tx, id, "c", StepStatus::Cancelled, None, Some(&reason))
        .await
        .unwrap();
    engine::finish_execution(
        &mut tx,
        id,
        ExecutionStatus::Cancelled,
        None,
        Some(&reason),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    weft_store::commit(tx, "cancelling").await.unwrap();

    let (steps, attempts) = store.execution_steps(id).await.unwrap();
    let mut steps: Vec<(String, String, bool)> = steps
        .into_iter()
        .map(|s| (s.step_id, s.status, s.finished_at.is_some()))
        .collect();
    steps.sort();
    let expect = |id: &str, status: &str| (id.to_owned(), status.to_owned(), true);
    assert_eq!(
        steps,
        [
            expect("a", "cancelled"),
            expect("b", "succeeded"),
            expect("c", "cancelled")
        ]
    );
    let attempts: Vec<(Uuid, &str, Option<&serde_json::Value>, bool)> = attempts
        .iter()
        .map(|a| {
            (
                a.id,
                a.status.as_str(),
                a.error.as_ref(),
                a.finished_at.is_some(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (a1, "failed", Some(&json!({"code": "x"})), true),
            (a2, "cancelled", Some(&reason), true),
            (b1, "succeeded", None, true),
        ]
    );
    let row = store.get_execution(id).await.unwrap().unwrap();
    assert_eq!(row.status, "cancelled");
    assert_eq!(row.error, Some(reason));
    assert!(row.finished_at.is_some());
}

#[tokio::test]
async fn lock_execution_serialises_transactions() {
    let pg = common::pg().await;
    let id = common::insert_execution(&pg.store, "wf", "ev-1").await;

    let mut first = pg.store.begin().await.unwrap();
    engine::lock_execution(&mut first, id)
        .await
        .unwrap()
        .unwrap();
    engine::start_execution(&mut first, id, &["a"], chrono::Utc::now())
        .await
        .unwrap();

    let store = pg.store.clone();
    let second = tokio::spawn(async move {
        let mut tx = store.begin().await.unwrap();
        let row = engine::lock_execution(&mut tx, id).await.unwrap().unwrap();
        tx.rollback().await.unwrap();
        row.status
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !second.is_finished(),
        "the second lock waits for the first transaction"
    );
    weft_store::commit(first, "starting").await.unwrap();
    // It then sees the committed state, not the one it would have read before.
    assert_eq!(second.await.unwrap(), "running");
}

/// The steps read with a lock are those committed by the transaction the lock waited for (two
/// results of parallel steps must each see the other's step end, or the execution stalls).
#[tokio::test]
async fn steps_read_with_the_lock_are_fresh_after_waiting() {
    let pg = common::pg().await;
    let id = common::insert_execution(&pg.store, "wf", "ev-1").await;
    let mut setup = pg.store.begin().await.unwrap();
    engine::lock_execution(&mut setup, id)
        .await
        .unwrap()
        .unwrap();
    engine::start_execution(&mut setup, id, &["left", "right"], chrono::Utc::now())
        .await
        .unwrap();
    weft_store::commit(setup, "setup").await.unwrap();

    let mut first = pg.store.begin().await.unwrap();
    engine::lock_execution_with_steps(&mut first, id)
        .await
        .unwrap()
        .unwrap();
    let done = serde_json::json!({"ok": true});
    engine::set_step(
        &mut first,
        id,
        "left",
        StepStatus::Succeeded,
        Some(&done),
        None,
    )
    .await
    .unwrap();

    let store = pg.store.clone();
    let second = tokio::spawn(async move {
        let mut tx = store.begin().await.unwrap();
        let (_, steps) = engine::lock_execution_with_steps(&mut tx, id)
            .await
            .unwrap()
            .unwrap();
        tx.rollback().await.unwrap();
        steps
            .into_iter()
            .find(|s| s.step_id == "left")
            .map(|s| s.status)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !second.is_finished(),
        "the second lock waits for the first transaction"
    );
    weft_store::commit(first, "left succeeded").await.unwrap();
    assert_eq!(second.await.unwrap().as_deref(), Some("succeeded"));
}
