//! Starts a private logical-decoding PostgreSQL, stops it by PID (its port held meanwhile) and
//! starts it again with the data kept.

use sqlx::{Connection as _, PgConnection};
use weft_testkit::PgServer;

#[tokio::test]
async fn logical_server_stops_and_starts_on_the_same_port_and_data() -> anyhow::Result<()> {
    let mut pg = PgServer::start_logical().await?;
    let mut conn = PgConnection::connect(&pg.url).await?;
    let level: String = sqlx::query_scalar("SHOW wal_level")
        .fetch_one(&mut conn)
        .await?;
    assert_eq!(level, "logical");
    sqlx::query("CREATE TABLE kept (id int)")
        .execute(&mut conn)
        .await?;
    sqlx::query("INSERT INTO kept VALUES (7)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;

    let pid = pg.pid().expect("a postmaster pid");
    pg.stop();
    assert!(!pg.is_running());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z")),
        "postmaster {pid} still runs after stop"
    );
    // While it is stopped the port stays this test's: a connection is closed at once (what a
    // client sees is a database gone, never another test's server), and nothing else binds it.
    let err = PgConnection::connect(&pg.url)
        .await
        .expect_err("no database");
    assert!(
        matches!(err, sqlx::Error::Io(_)),
        "a closed connection, not another server: {err}"
    );
    assert!(std::net::TcpListener::bind(("127.0.0.1", pg.port)).is_err());

    pg.start().await?;
    let mut conn = PgConnection::connect(&pg.url).await?;
    let kept: i32 = sqlx::query_scalar("SELECT id FROM kept")
        .fetch_one(&mut conn)
        .await?;
    assert_eq!(kept, 7);
    conn.close().await?;
    Ok(())
}
