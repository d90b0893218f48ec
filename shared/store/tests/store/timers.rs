//! Durable timers: due only once `due_at` has passed, claimed (deleted) exactly once, and a
//! claim that rolls back leaves the timer for the next replica.

use std::time::Duration;

use chrono::{SubsecRound, Utc};
use uuid::Uuid;
use weft_store::{
    engine,
    timers::{self, Timer, TimerKind},
};

use crate::common;

#[tokio::test]
async fn a_timer_is_due_after_due_at_and_claimed_once() {
    let pg = common::pg().await;
    let store = &pg.store;
    let execution_id = common::insert_execution(store, "wf", "ev-timer").await;
    // PostgreSQL keeps microseconds: round so the timer reads back equal.
    let now = Utc::now().trunc_subsecs(6);
    let later = Timer {
        id: Uuid::now_v7(),
        execution_id,
        kind: TimerKind::StepTimeout,
        step_id: Some("fetch".into()),
        attempt_id: Some(Uuid::now_v7()),
        instance: None,
        due_at: now + chrono::Duration::milliseconds(1500),
    };
    let past = Timer {
        id: Uuid::now_v7(),
        execution_id,
        kind: TimerKind::Retry,
        step_id: Some("fetch".into()),
        attempt_id: None,
        instance: None,
        due_at: now - chrono::Duration::seconds(1),
    };
    let mut tx = store.begin().await.unwrap();
    timers::insert(&mut tx, &later).await.unwrap();
    timers::insert(&mut tx, &past).await.unwrap();
    weft_store::commit(tx, "scheduling timers").await.unwrap();

    assert_eq!(
        store.due_timers(10).await.unwrap(),
        std::slice::from_ref(&past),
        "not due yet"
    );
    let due = weft_testkit::wait_for(Duration::from_secs(10), || async {
        let due = store.due_timers(10).await.unwrap();
        (due.len() == 2).then_some(due)
    })
    .await
    .unwrap();
    assert!(Utc::now() >= later.due_at, "reported due before its due_at");
    assert_eq!(due, [past.clone(), later.clone()], "oldest first");

    // Claim under the execution lock, as the router does.
    let mut tx = store.begin().await.unwrap();
    assert!(
        engine::lock_execution(&mut tx, execution_id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        timers::claim(&mut tx, later.id).await.unwrap(),
        Some(later.clone())
    );
    weft_store::commit(tx, "firing a timer").await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert!(
        engine::lock_execution(&mut tx, execution_id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        timers::claim(&mut tx, later.id).await.unwrap(),
        None,
        "fires once"
    );
    weft_store::commit(tx, "firing a timer again")
        .await
        .unwrap();

    assert_eq!(store.due_timers(10).await.unwrap(), [past]);
}

#[tokio::test]
async fn a_rolled_back_claim_leaves_the_timer() {
    let pg = common::pg().await;
    let store = &pg.store;
    let execution_id = common::insert_execution(store, "wf", "ev-timer").await;
    let timer = Timer {
        id: Uuid::now_v7(),
        execution_id,
        kind: TimerKind::WorkflowTimeout,
        step_id: None,
        attempt_id: None,
        instance: None,
        due_at: Utc::now().trunc_subsecs(6) - chrono::Duration::seconds(1),
    };
    let mut tx = store.begin().await.unwrap();
    timers::insert(&mut tx, &timer).await.unwrap();
    weft_store::commit(tx, "scheduling a timer").await.unwrap();

    // A replica claims it, then dies before committing.
    let mut tx = store.begin().await.unwrap();
    assert!(timers::claim(&mut tx, timer.id).await.unwrap().is_some());
    tx.rollback().await.unwrap();
    assert_eq!(
        store.due_timers(10).await.unwrap(),
        std::slice::from_ref(&timer)
    );

    let mut tx = store.begin().await.unwrap();
    assert_eq!(timers::claim(&mut tx, timer.id).await.unwrap(), Some(timer));
    weft_store::commit(tx, "firing a timer").await.unwrap();
    assert!(store.due_timers(10).await.unwrap().is_empty());
}
