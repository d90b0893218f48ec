//! Secrets end to end: a step uses `${{ secrets.API_TOKEN }}` in a header and in its body; the
//! called service receives the clear value, but no message on the bus (every subject, captured
//! with a core `>` subscription during the run) and no stored row holds it.

mod common;

use std::time::Duration;

use common::Env;
use futures::StreamExt;
use serde_json::json;

const CLEAR: &str = "tok-5ecret-9f3a71c2";

#[tokio::test]
async fn secret_values_reach_the_callee_but_never_the_bus_history_or_rows() {
    let env = Env::start_with(|c| {
        c.master_key =
            weft_runtime::Redacted(weft_secrets::MasterKey::generate().expect("random key"));
    })
    .await;
    let nats = async_nats::connect(&env.nats.url).await.expect("nats");
    let mut wiretap = nats.subscribe(">").await.expect("subscribe");
    nats.flush().await.expect("flush");

    let put = env
        .http
        .put(format!("{}/api/v1/secrets/API_TOKEN", env.base))
        .json(&json!({"value": CLEAR}))
        .send()
        .await
        .expect("put secret");
    assert_eq!(put.status(), 200);

    env.apply(
        "name: uses-secret
on:
  webhook: {path: secret}
steps:
  call:
    uses: http
    with:
      method: POST
      url: '{upstream}/status/200'
      headers: {authorization: 'Bearer ${{ secrets.API_TOKEN }}'}
      json: {token: '${{ secrets.API_TOKEN }}', order: '${{ event.data.body.order }}'}
  echo:
    uses: http
    with:
      method: POST
      url: '{upstream}/echo/leak'
      json: {token: '${{ secrets.API_TOKEN }}'}
  broken:
    uses: http
    continue_on_error: true
    with:
      url: 'http://127.0.0.1:9/hook?token=${{ secrets.API_TOKEN }}'
",
    )
    .await;
    let event_id = env.trigger("secret", json!({"order": 7})).await;
    let done = env.finished(&event_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");

    // The callee got the clear value.
    let seen = env.upstream.seen("/status/200");
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(&*format!("Bearer {CLEAR}"))
    );
    assert_eq!(seen[0].body["token"], CLEAR);
    assert_eq!(seen[0].body["order"], 7);
    // An echoing server returns the value, and a failing call's error quotes the URL holding
    // it: both reach the execution history masked.
    assert_eq!(env.upstream.seen("/echo/leak")[0].body["token"], CLEAR);
    let echo = &Env::step(&done, "echo")["attempts"][0]["output"];
    assert_eq!(echo["body"]["received"]["token"], "***", "{echo}");
    let broken = &Env::step(&done, "broken")["attempts"][0]["error"];
    assert_eq!(broken["code"], "connect", "{broken}");
    assert!(
        broken["message"]
            .as_str()
            .unwrap_or("")
            .contains("token=***"),
        "{broken}"
    );

    // Nothing on the bus carried it: payloads and headers of every message during the run.
    let mut messages = 0;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(500), wiretap.next()).await
    {
        messages += 1;
        let text = String::from_utf8_lossy(&msg.payload);
        let headers = format!("{:?}", msg.headers);
        assert!(
            !text.contains(CLEAR) && !headers.contains(CLEAR),
            "clear secret on {}: {text}",
            msg.subject
        );
    }
    assert!(
        messages > 5,
        "the wiretap saw the run ({messages} messages)"
    );

    // No stored row holds it, and the stored step input keeps the reference.
    let pool = env.db.pool().await.expect("pool");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'",
    )
    .fetch_all(&pool)
    .await
    .expect("tables");
    assert!(tables.len() > 3, "{tables:?}");
    let mut dump = String::new();
    for table in &tables {
        let rows: Vec<String> =
            // Table names come from pg_tables, quoted with quote_ident.
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT row_to_json(t)::text FROM {table} t")))
                .fetch_all(&pool)
                .await
                .expect("rows");
        dump.extend(rows);
    }
    assert!(!dump.contains(CLEAR), "a stored row holds the clear secret");
    assert!(
        dump.contains("${{ secrets.API_TOKEN }}"),
        "the step input keeps the reference"
    );
}
