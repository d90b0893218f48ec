//! The CDC trigger service against a real logical PostgreSQL and a real NATS: events and their
//! data, the operations filter, restarts and crashes with nothing lost or doubled, the source
//! going away, an idle slot not holding WAL, a dropped slot reported.

mod common;

use std::collections::HashSet;

use common::Env;
use serde_json::{Value, json};
use weft_cdc::CdcSource;

const SETUP: &str = "CREATE TABLE public.orders (id int PRIMARY KEY, total numeric, paid bool);
     ALTER TABLE public.orders REPLICA IDENTITY FULL;
     CREATE TABLE public.noise (id serial, at timestamptz DEFAULT now());";

const WORKFLOW: &str = "
name: order-feed
on:
  cdc:
    dsn: '{dsn}'
    tables: [public.orders]
    slot: feed
    poll_interval: 100ms
steps:
  s: { uses: http, with: { url: 'http://127.0.0.1:1/' } }
";

fn ids(events: &[Value]) -> HashSet<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect()
}

fn order_ids(events: &[Value]) -> Vec<i64> {
    let mut ids: Vec<i64> = events
        .iter()
        .filter_map(|e| e["data"]["new"]["id"].as_i64())
        .collect();
    ids.sort_unstable();
    ids
}

async fn started(workflow: &str, source: CdcSource) -> Env {
    let mut env = Env::start(SETUP).await;
    env.apply(workflow).await;
    env.run(source);
    env.slot_ready("feed").await;
    env
}

#[tokio::test]
async fn insert_update_delete_become_events_with_full_old_rows() {
    let mut env = started(WORKFLOW, CdcSource::new()).await;
    env.sql("INSERT INTO public.orders VALUES (1, 250.00, false)")
        .await;
    env.sql("UPDATE public.orders SET paid = true WHERE id = 1")
        .await;
    env.sql("DELETE FROM public.orders WHERE id = 1").await;
    let events = env.events(3).await;
    assert_eq!(events.len(), 3, "{events:#?}");
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        types,
        [
            "dev.weft.cdc.row.inserted",
            "dev.weft.cdc.row.updated",
            "dev.weft.cdc.row.deleted"
        ]
    );
    for e in &events {
        assert_eq!(e["source"], "weft/cdc/order-feed");
        assert_eq!(e["subject"], "public.orders");
        assert_eq!(e["data"]["table"], "public.orders");
    }
    assert_eq!(ids(&events).len(), 3);
    let row = json!({"id": 1, "total": "250.00", "paid": false});
    let paid = json!({"id": 1, "total": "250.00", "paid": true});
    assert_eq!(events[0]["data"]["op"], "insert");
    assert_eq!(
        (&events[0]["data"]["new"], &events[0]["data"]["old"]),
        (&row, &Value::Null)
    );
    assert_eq!(
        (&events[1]["data"]["new"], &events[1]["data"]["old"]),
        (&paid, &row)
    );
    assert_eq!(
        (&events[2]["data"]["new"], &events[2]["data"]["old"]),
        (&Value::Null, &paid)
    );
    assert!(
        events[0]["data"]["lsn"]
            .as_str()
            .is_some_and(|l| l.contains('/'))
    );
    assert!(events[0]["data"]["commit_time"].as_str().is_some());
    env.stop().await;
}

#[tokio::test]
async fn operations_filter_publishes_only_listed_changes_and_still_confirms_the_rest() {
    let workflow = WORKFLOW.replace("slot: feed", "slot: feed\n    operations: [delete]");
    let mut env = started(&workflow, CdcSource::new()).await;
    env.sql("INSERT INTO public.orders VALUES (1, 1, false), (2, 2, false)")
        .await;
    env.sql("UPDATE public.orders SET paid = true").await;
    env.sql("DELETE FROM public.orders WHERE id = 2").await;
    let events = env.events(1).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["type"], "dev.weft.cdc.row.deleted");
    assert_eq!(events[0]["data"]["old"]["id"], 2);
    env.stop().await;
}

#[tokio::test]
async fn changes_made_while_stopped_arrive_exactly_once_after_restart() {
    let mut env = started(WORKFLOW, CdcSource::new()).await;
    env.sql("INSERT INTO public.orders VALUES (1, 1, false)")
        .await;
    assert_eq!(order_ids(&env.events(1).await), [1]);
    env.stop().await;
    env.sql("INSERT INTO public.orders VALUES (2, 2, false)")
        .await;
    env.sql("INSERT INTO public.orders VALUES (3, 3, false)")
        .await;
    env.run(CdcSource::new());
    let events = env.events(3).await;
    assert_eq!(order_ids(&events), [1, 2, 3], "{events:#?}");
    assert_eq!(ids(&events).len(), 3);
    env.stop().await;
}

#[tokio::test]
async fn a_crash_between_publish_and_confirm_loses_and_doubles_nothing() {
    // Two runs die right after publishing a transaction, before the slot moves: the
    // transaction is read and published again, with the same event ids.
    let source = CdcSource::new().fail_before_advance(2);
    let watch = source.clone();
    let mut env = Env::start(SETUP).await;
    env.apply(WORKFLOW).await;
    // As a previous run left them: the publication, then the slot.
    env.sql("CREATE PUBLICATION weft_feed FOR TABLE public.orders")
        .await;
    env.sql("SELECT pg_create_logical_replication_slot('feed', 'pgoutput')")
        .await;
    let before = env.confirmed("feed").await;
    env.sql("INSERT INTO public.orders VALUES (1, 1, false), (2, 2, false)")
        .await;
    env.sql("INSERT INTO public.orders VALUES (3, 3, false)")
        .await;
    env.run(source);
    let events = env.events(3).await;
    assert_eq!(watch.pending_failures(), 0, "the crash hook fired twice");
    assert_eq!(order_ids(&events), [1, 2, 3], "{events:#?}");
    assert_eq!(ids(&events).len(), 3);
    // Later changes still flow, and the slot moved past everything.
    env.sql("INSERT INTO public.orders VALUES (4, 4, false)")
        .await;
    assert_eq!(order_ids(&env.events(4).await), [1, 2, 3, 4]);
    assert_ne!(env.confirmed("feed").await, before);
    env.stop().await;
}

#[tokio::test]
async fn source_going_away_is_reported_and_reading_resumes_from_the_slot() {
    let mut env = started(WORKFLOW, CdcSource::new()).await;
    env.sql("INSERT INTO public.orders VALUES (1, 1, false)")
        .await;
    assert_eq!(order_ids(&env.events(1).await), [1]);
    env.pg.stop();
    env.health_says("\"error\"").await;
    env.pg.start().await.expect("postgres back");
    env.sql("INSERT INTO public.orders VALUES (2, 2, false)")
        .await;
    let events = env.events(2).await;
    assert_eq!(order_ids(&events), [1, 2], "{events:#?}");
    env.health_says("\"running\"").await;
    env.stop().await;
}

#[tokio::test]
async fn an_idle_slot_confirms_past_writes_to_unwatched_tables() {
    let mut env = started(WORKFLOW, CdcSource::new()).await;
    let before = env.confirmed("feed").await;
    for _ in 0..5 {
        env.sql("INSERT INTO public.noise DEFAULT VALUES").await;
    }
    let mut conn = env.conn().await;
    let written: String = sqlx::query_scalar("SELECT pg_current_wal_flush_lsn()::text")
        .fetch_one(&mut conn)
        .await
        .expect("lsn");
    weft_testkit::wait_for(common::WAIT, || async {
        let mut conn = env.conn().await;
        sqlx::query_scalar::<_, bool>(
            "SELECT confirmed_flush_lsn >= $1::text::pg_lsn FROM pg_replication_slots \
             WHERE slot_name = 'feed'",
        )
        .bind(&written)
        .fetch_one(&mut conn)
        .await
        .ok()
        .filter(|moved| *moved)
    })
    .await
    .unwrap_or_else(|_| panic!("slot stayed before {written} (was {before})"));
    assert!(env.events(0).await.is_empty());
    env.stop().await;
}

#[tokio::test]
async fn a_dropped_slot_is_recreated_and_the_gap_reported() {
    let mut env = started(WORKFLOW, CdcSource::new()).await;
    env.sql("INSERT INTO public.orders VALUES (1, 1, false)")
        .await;
    assert_eq!(order_ids(&env.events(1).await), [1]);
    // The slot is only busy during a read: retry the drop until it goes through.
    weft_testkit::wait_for(common::WAIT, || async {
        let mut conn = env.conn().await;
        sqlx::query("SELECT pg_drop_replication_slot('feed')")
            .execute(&mut conn)
            .await
            .ok()
    })
    .await
    .expect("slot dropped");
    env.health_says("was missing").await;
    env.slot_ready("feed").await;
    env.sql("INSERT INTO public.orders VALUES (2, 2, false)")
        .await;
    assert_eq!(order_ids(&env.events(2).await), [1, 2]);
    env.health_says("\"running\"").await;
    env.stop().await;
}
