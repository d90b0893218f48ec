//! Creates and drops real databases on the server named by WEFT_TEST_PG_URL (scripts/test).

use sqlx::Row as _;
use weft_testkit::TestDb;

async fn exists(admin_url: &str, name: &str) -> anyhow::Result<bool> {
    let pool = sqlx::PgPool::connect(admin_url).await?;
    let row = sqlx::query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    Ok(row.try_get::<i64, _>("n")? == 1)
}

#[tokio::test]
async fn create_query_and_drop() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    assert!(db.name.starts_with("weft_test_"));
    assert!(
        db.url.ends_with(&format!("/{}", db.name)) || db.url.contains(&format!("/{}?", db.name))
    );
    let pool = db.pool().await?;
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await?;
    assert_eq!(one, 1);
    let current: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&pool)
        .await?;
    assert_eq!(current, db.name);

    let (admin, name) = (db.admin_url().to_owned(), db.name.clone());
    assert!(exists(&admin, &name).await?);
    // The open pool does not stop the drop: WITH (FORCE).
    drop(db);
    assert!(
        !exists(&admin, &name).await?,
        "{name} still exists after drop"
    );
    pool.close().await;
    Ok(())
}

#[tokio::test]
async fn databases_are_distinct() -> anyhow::Result<()> {
    let a = TestDb::create().await?;
    let b = TestDb::create().await?;
    assert_ne!(a.name, b.name);
    let mut conn = a.connect().await?;
    sqlx::query("CREATE TABLE t (x int)")
        .execute(&mut conn)
        .await?;
    let mut other = b.connect().await?;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 't'")
        .fetch_one(&mut other)
        .await?;
    assert_eq!(n, 0);
    Ok(())
}
