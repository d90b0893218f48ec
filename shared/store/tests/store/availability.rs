//! `StoreError::is_unavailable` against a real server: what a consumer waits out (no server, a
//! pool with no free connection, a session the server ended) and what it does not (a statement
//! the server rejected).

use sqlx::{Connection as _, PgConnection};
use weft_store::{Store, StoreError};

use crate::common::pg;

#[tokio::test]
async fn a_server_that_is_not_there_is_unavailable() {
    let port = weft_testkit::free_port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/weft");
    let e = Store::connect(&url, 1).await.unwrap_err();
    assert!(matches!(e, StoreError::Connect(_)), "{e:?}");
    assert!(e.is_unavailable(), "{e:?}");
}

#[tokio::test]
async fn a_pool_without_a_free_connection_is_unavailable() {
    let pg = pg().await;
    let store = Store::connect(&pg.db.url, 1).await.unwrap();
    let _held = store.begin().await.unwrap();
    let e = store.begin().await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
}

#[tokio::test]
async fn a_session_the_server_ended_is_unavailable_and_a_rejected_statement_is_not() {
    let pg = pg().await;
    let mut victim = PgConnection::connect(&pg.db.url).await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut victim)
        .await
        .unwrap();
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(pg.store.pool())
        .await
        .unwrap();
    assert!(killed);
    let e = sqlx::query("SELECT 1")
        .execute(&mut victim)
        .await
        .unwrap_err();
    assert!(weft_store::is_unavailable(&e), "{e:?}");

    let e = sqlx::query("SELECT * FROM no_such_table")
        .execute(pg.store.pool())
        .await
        .unwrap_err();
    assert!(!weft_store::is_unavailable(&e), "{e:?}");
    let e = sqlx::query("SELECT 1 / 0")
        .execute(pg.store.pool())
        .await
        .unwrap_err();
    assert!(!weft_store::is_unavailable(&e), "{e:?}");
}
