//! What a real PostgreSQL (wal_level=logical, started by the test) sends through a pgoutput
//! slot, decoded into transactions: values typed by column type, old rows per replica
//! identity, peek not consuming, advance confirming, idle confirmation.

use serde_json::json;
use sqlx::{Connection as _, PgConnection};
use weft_cdc::changes::{Decoder, Transaction};
use weft_cdc::pgoutput::Lsn;
use weft_cdc::slot;
use weft_flow::triggers::CdcOperation;
use weft_testkit::PgServer;

async fn read(conn: &mut PgConnection) -> anyhow::Result<Vec<Transaction>> {
    let rows = slot::peek(conn, "s1", "weft_s1", 1000).await?;
    let mut decoder = Decoder::default();
    let mut out = Vec::new();
    for row in &rows {
        out.extend(decoder.push(row)?);
    }
    Ok(out)
}

async fn exec(conn: &mut PgConnection, sql: &'static str) -> anyhow::Result<()> {
    sqlx::raw_sql(sql).execute(conn).await?;
    Ok(())
}

async fn confirmed(conn: &mut PgConnection) -> anyhow::Result<Lsn> {
    let text: String = sqlx::query_scalar(
        "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 's1'",
    )
    .fetch_one(conn)
    .await?;
    Ok(Lsn::parse(&text).expect("an LSN"))
}

#[tokio::test]
async fn decodes_typed_rows_and_old_rows_per_replica_identity() -> anyhow::Result<()> {
    let pg = PgServer::start_logical().await?;
    let mut conn = PgConnection::connect(&pg.url).await?;
    exec(
        &mut conn,
        "CREATE TABLE public.orders (id int8 PRIMARY KEY, total numeric, paid bool, \
         meta jsonb, note text, score float8);
         CREATE TABLE public.keyed (id int4 PRIMARY KEY, name text);
         ALTER TABLE public.orders REPLICA IDENTITY FULL;",
    )
    .await?;
    let tables = vec!["public.orders".to_string(), "public.keyed".to_string()];
    assert!(slot::ensure_publication(&mut conn, "weft_s1", &tables).await?);
    assert!(!slot::ensure_publication(&mut conn, "weft_s1", &tables).await?);
    let state = slot::ensure_slot(&mut conn, "s1").await?;
    assert!(state.created);
    assert!(!slot::ensure_slot(&mut conn, "s1").await?.created);

    exec(
        &mut conn,
        "BEGIN;
         INSERT INTO public.orders VALUES (1, 12.50, true, '{\"vip\": true}', NULL, 0.5);
         INSERT INTO public.keyed VALUES (7, 'seven');
         COMMIT;",
    )
    .await?;
    // One statement per call: a multi-statement string is one implicit transaction.
    for sql in [
        "UPDATE public.orders SET paid = false WHERE id = 1",
        "UPDATE public.keyed SET name = 'SEVEN' WHERE id = 7",
        "DELETE FROM public.orders WHERE id = 1",
        "DELETE FROM public.keyed WHERE id = 7",
    ] {
        exec(&mut conn, sql).await?;
    }
    let txs = read(&mut conn).await?;
    assert_eq!(txs.len(), 5, "{txs:#?}");
    let first = &txs[0];
    assert_eq!(first.changes.len(), 2);
    assert!(first.end_lsn > first.commit_lsn);
    let insert = &first.changes[0];
    assert_eq!(
        (insert.table.as_str(), insert.op),
        ("public.orders", CdcOperation::Insert)
    );
    assert_eq!(
        json!(insert.new),
        json!({"id": 1, "total": "12.50", "paid": true, "meta": {"vip": true}, "note": null, "score": 0.5})
    );
    assert_eq!(insert.old, None);
    let data = insert.data(first);
    assert_eq!(data["op"], "insert");
    assert_eq!(data["lsn"], first.commit_lsn.to_string());
    assert!(
        data["commit_time"]
            .as_str()
            .is_some_and(|t| t.starts_with("20")),
        "{data}"
    );

    // FULL: the update carries the whole old row.
    let update = &txs[1].changes[0];
    assert_eq!(update.op, CdcOperation::Update);
    assert_eq!(json!(update.old)["paid"], json!(true));
    assert_eq!(json!(update.new)["paid"], json!(false));
    // Default identity: no old row on update, only the key on delete.
    assert_eq!(txs[2].changes[0].old, None);
    assert_eq!(
        json!(txs[2].changes[0].new),
        json!({"id": 7, "name": "SEVEN"})
    );
    let delete_full = &txs[3].changes[0];
    assert_eq!(
        (delete_full.op, delete_full.new.clone()),
        (CdcOperation::Delete, None)
    );
    assert_eq!(json!(delete_full.old)["total"], json!("12.50"));
    assert_eq!(json!(txs[4].changes[0].old), json!({"id": 7}));
    assert_eq!(txs[4].changes[0].event_type(), "dev.weft.cdc.row.deleted");

    // Peeking consumed nothing; advancing confirms exactly up to a commit.
    assert_eq!(read(&mut conn).await?.len(), 5);
    slot::advance(&mut conn, "s1", txs[1].end_lsn).await?;
    assert_eq!(confirmed(&mut conn).await?, txs[1].end_lsn);
    let rest = read(&mut conn).await?;
    assert_eq!(rest, txs[2..].to_vec());
    // Advancing backwards is a no-op, not an error.
    slot::advance(&mut conn, "s1", txs[0].end_lsn).await?;
    assert_eq!(confirmed(&mut conn).await?, txs[1].end_lsn);
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn tables_change_alters_the_publication_and_unwatched_writes_decode_to_nothing()
-> anyhow::Result<()> {
    let pg = PgServer::start_logical().await?;
    let mut conn = PgConnection::connect(&pg.url).await?;
    exec(
        &mut conn,
        "CREATE TABLE a (id int); CREATE TABLE b (id int);",
    )
    .await?;
    slot::ensure_publication(&mut conn, "weft_s1", &["public.a".into()]).await?;
    slot::ensure_slot(&mut conn, "s1").await?;
    exec(&mut conn, "INSERT INTO b VALUES (1)").await?;
    exec(&mut conn, "INSERT INTO b VALUES (2)").await?;
    assert_eq!(
        read(&mut conn).await?,
        vec![],
        "writes to an unwatched table"
    );
    let before = slot::flush_lsn(&mut conn).await?;
    assert!(before > confirmed(&mut conn).await?);

    assert!(
        slot::ensure_publication(
            &mut conn,
            "weft_s1",
            &["public.a".into(), "public.b".into()]
        )
        .await?
    );
    let published: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_publication_tables WHERE pubname = 'weft_s1' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await?;
    assert_eq!(published, ["a", "b"]);
    exec(&mut conn, "INSERT INTO b VALUES (3);").await?;
    let txs = read(&mut conn).await?;
    assert_eq!(txs.len(), 1);
    assert_eq!(json!(txs[0].changes[0].new), json!({"id": 3}));

    let err = slot::ensure_publication(&mut conn, "weft_s2", &["public.nope".into()])
        .await
        .expect_err("a missing table");
    assert!(err.to_string().contains("public.nope"), "{err}");
    Ok(())
}
