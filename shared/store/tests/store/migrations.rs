//! Migrations: applying them again changes nothing, and two stores may migrate at once.

use weft_store::Store;
use weft_testkit::TestDb;

use crate::common;

/// How many `.sql` files `migrations/` holds.
fn migration_files() -> i64 {
    let dir = weft_testkit::repo_root().join("migrations");
    let n = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count();
    assert!(n > 0, "no migrations in {}", dir.display());
    i64::try_from(n).unwrap()
}

/// (applied, successful) rows in sqlx's bookkeeping table.
async fn applied(store: &Store) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE success) FROM _sqlx_migrations")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn migrating_twice_is_a_no_op() {
    let pg = common::pg().await; // migrated once
    let n = migration_files();
    assert_eq!(applied(&pg.store).await, (n, n));
    common::insert_execution(&pg.store, "wf", "ev-1").await;

    pg.store.migrate().await.unwrap();
    let other = Store::connect(&pg.db.url, 2).await.unwrap();
    other.migrate().await.unwrap();

    assert_eq!(applied(&pg.store).await, (n, n), "no migration ran twice");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM executions")
        .fetch_one(pg.store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1, "re-migrating kept the data");
}

#[tokio::test]
async fn two_stores_migrate_a_fresh_database_concurrently() {
    let db = TestDb::create().await.unwrap();
    let a = Store::connect(&db.url, 2).await.unwrap();
    let b = Store::connect(&db.url, 2).await.unwrap();

    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();

    let n = migration_files();
    assert_eq!(applied(&a).await, (n, n));
    // Every table exists and is usable from both.
    assert_eq!(a.outbox_len().await.unwrap(), 0);
    assert!(b.due_timers(10).await.unwrap().is_empty());
    assert!(b.list_workflows().await.unwrap().is_empty());
    drop((a, b));
    drop(db);
}
