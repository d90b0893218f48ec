//! `on.cdc` end to end: every service in one process (as `weft dev`), the project's PostgreSQL
//! for Weft's state, and a second, private PostgreSQL with `wal_level=logical` as the source.
//! A committed row starts the workflow, whose HTTP step receives the row; bad `on.cdc`
//! configurations are refused at apply with a 400 naming the field.

mod common;

use std::time::Duration;

use common::Env;
use serde_json::{Value, json};
use sqlx::{Connection as _, PgConnection};
use weft_testkit::{PgServer, wait_for};

async fn source() -> PgServer {
    let pg = PgServer::start_logical().await.expect("source postgres");
    let mut conn = PgConnection::connect(&pg.url).await.expect("connect");
    sqlx::raw_sql(
        "CREATE SCHEMA shop; CREATE TABLE shop.orders (id int PRIMARY KEY, total numeric)",
    )
    .execute(&mut conn)
    .await
    .expect("schema");
    conn.close().await.expect("close");
    pg
}

#[tokio::test]
async fn a_committed_row_starts_the_workflow_with_the_row_as_event_data() {
    let mut env = Env::start().await;
    let pg = source().await;
    let yaml = format!(
        "name: cdc-orders
on:
  cdc:
    dsn: '{}'
    tables: [shop.orders]
    operations: [insert]
    poll_interval: 100ms
if: ${{{{ double(event.data.new.total) > 100.0 }}}}
steps:
  report:
    uses: http
    with:
      method: POST
      url: '{{upstream}}/echo/order'
      json: {{ id: '${{{{ event.data.new.id }}}}', total: '${{{{ event.data.new.total }}}}' }}
",
        pg.url
    );
    env.apply(&yaml).await;
    let mut conn = PgConnection::connect(&pg.url).await.expect("connect");
    wait_for(Duration::from_secs(20), || async {
        let mut conn = PgConnection::connect(&pg.url).await.ok()?;
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'weft_cdc_orders'",
        )
        .fetch_one(&mut conn)
        .await
        .ok()
        .filter(|n| *n == 1)
    })
    .await
    .expect("the trigger creates its slot");
    sqlx::query("INSERT INTO shop.orders VALUES (1, 5.00)")
        .execute(&mut conn)
        .await
        .expect("small order");
    sqlx::query("INSERT INTO shop.orders VALUES (2, 250.00)")
        .execute(&mut conn)
        .await
        .expect("large order");

    let seen = wait_for(Duration::from_secs(30), || async {
        let seen = env.upstream.seen("/echo/order");
        (!seen.is_empty()).then_some(seen)
    })
    .await
    .expect("the step ran");
    assert_eq!(seen[0].body, json!({"id": 2, "total": "250.00"}));
    // The small order was filtered by `if`; nothing ran twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(env.upstream.seen("/echo/order").len(), 1);
    conn.close().await.expect("close");
    env.stop().await;
}

#[tokio::test]
async fn bad_cdc_configurations_are_refused_at_apply() {
    let mut env = Env::start().await;
    let cases = [
        ("tables: []", "tables"),
        ("tables: [orders]", "schema.table"),
        ("tables: [shop.orders]\n    slot: Bad-Slot", "slot"),
        ("tables: [shop.orders]\n    operations: []", "operations"),
        (
            "tables: [shop.orders]\n    operations: [upsert]",
            "operations",
        ),
    ];
    for (i, (fields, expected)) in cases.iter().enumerate() {
        let yaml = format!(
            "name: bad-cdc-{i}\non:\n  cdc:\n    dsn: postgres://db/x\n    {fields}\nsteps:\n  s: {{ uses: http, with: {{ url: 'http://127.0.0.1:1/' }} }}\n"
        );
        let (status, body) = env.apply_raw(&yaml).await;
        assert_eq!(status, 400, "{fields}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{fields}: {body}");
    }
    let (status, body): (u16, Value) = env
        .apply_raw("name: bad-dsn\non:\n  cdc:\n    dsn: 'host=db'\n    tables: [a.b]\nsteps:\n  s: { uses: http, with: { url: 'http://127.0.0.1:1/' } }\n")
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap_or_default().contains("dsn"),
        "{body}"
    );
    env.stop().await;
}
