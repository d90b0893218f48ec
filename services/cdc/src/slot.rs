//! The source database side of CDC, through SQL functions on one connection: the publication
//! (which tables are decoded), the logical replication slot (where reading resumes), reading
//! changes without consuming them, and confirming them.
//!
//! Consumes the source DSN and the trigger's names; produces raw pgoutput messages and LSNs;
//! touches the source database: creates/alters publication `weft_<slot>`, creates the slot
//! when missing, and advances it. The source database is not Weft's, so queries are dynamic
//! (no `.sqlx` entries).

use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection as _, PgConnection, Row as _};

use crate::pgoutput::Lsn;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A failure on the source database, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{doing}: {source}")]
pub struct SlotError {
    /// What was being done, e.g. "creating replication slot weft_orders".
    pub doing: String,
    /// The driver's error.
    #[source]
    pub source: sqlx::Error,
}

impl SlotError {
    /// True when the error says the slot does not exist (it was dropped under us).
    pub fn is_missing_slot(&self) -> bool {
        matches!(&self.source, sqlx::Error::Database(db) if db.code().as_deref() == Some("42704"))
    }
}

fn ctx(doing: impl Into<String>) -> impl FnOnce(sqlx::Error) -> SlotError {
    let doing = doing.into();
    move |source| SlotError { doing, source }
}

/// The slot as found (or made) at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotState {
    /// True when the slot did not exist and was created now.
    pub created: bool,
    /// Everything up to here is confirmed.
    pub confirmed: Lsn,
}

/// Connects to the source database (10 s timeout).
pub async fn connect(dsn: &str, shown: &str) -> Result<PgConnection, SlotError> {
    let doing = format!("connecting to the source database {shown}");
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(dsn)).await {
        Ok(result) => result.map_err(ctx(doing)),
        Err(_) => Err(SlotError {
            doing,
            source: sqlx::Error::PoolTimedOut,
        }),
    }
}

/// The server's `wal_level`.
pub async fn wal_level(conn: &mut PgConnection) -> Result<String, SlotError> {
    sqlx::query_scalar("SELECT current_setting('wal_level')")
        .fetch_one(conn)
        .await
        .map_err(ctx("reading wal_level"))
}

/// Creates publication `name` for `tables` (`schema.table`), or sets its tables when they
/// differ. Returns true when it created or changed it.
pub async fn ensure_publication(
    conn: &mut PgConnection,
    name: &str,
    tables: &[String],
) -> Result<bool, SlotError> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)")
            .bind(name)
            .fetch_one(&mut *conn)
            .await
            .map_err(ctx(format!("looking up publication {name}")))?;
    let list = tables
        .iter()
        .map(|t| qualified(t))
        .collect::<Vec<_>>()
        .join(", ");
    if !exists {
        let sql = format!("CREATE PUBLICATION {} FOR TABLE {list}", ident(name));
        sqlx::query(AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .map_err(ctx(format!(
                "creating publication {name} for {}",
                tables.join(", ")
            )))?;
        return Ok(true);
    }
    let mut current: Vec<String> = sqlx::query_scalar(
        "SELECT schemaname::text || '.' || tablename::text FROM pg_publication_tables WHERE pubname = $1",
    )
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .map_err(ctx(format!("reading the tables of publication {name}")))?;
    let mut wanted = tables.to_vec();
    current.sort();
    wanted.sort();
    wanted.dedup();
    if current == wanted {
        return Ok(false);
    }
    let sql = format!("ALTER PUBLICATION {} SET TABLE {list}", ident(name));
    sqlx::query(AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
        .map_err(ctx(format!(
            "setting the tables of publication {name} to {}",
            tables.join(", ")
        )))?;
    Ok(true)
}

/// Finds slot `name` (it must be a pgoutput slot of this database) or creates it.
pub async fn ensure_slot(conn: &mut PgConnection, name: &str) -> Result<SlotState, SlotError> {
    let found = sqlx::query(
        "SELECT plugin::text AS plugin, database::text AS database, current_database()::text AS here, \
         confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = $1",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await
    .map_err(ctx(format!("looking up replication slot {name}")))?;
    if let Some(row) = found {
        let plugin: Option<String> = row.try_get("plugin").map_err(ctx("reading the slot"))?;
        let database: Option<String> = row.try_get("database").map_err(ctx("reading the slot"))?;
        let here: String = row.try_get("here").map_err(ctx("reading the slot"))?;
        let confirmed: Option<String> =
            row.try_get("confirmed").map_err(ctx("reading the slot"))?;
        if plugin.as_deref() != Some("pgoutput") || database.as_deref() != Some(here.as_str()) {
            return Err(SlotError {
                doing: format!("using replication slot {name}"),
                source: sqlx::Error::Protocol(format!(
                    "it exists with plugin {plugin:?} on database {database:?}; Weft needs a \
                     pgoutput slot on {here:?} (choose another `slot`)"
                )),
            });
        }
        let confirmed = confirmed
            .as_deref()
            .and_then(Lsn::parse)
            .unwrap_or_default();
        return Ok(SlotState {
            created: false,
            confirmed,
        });
    }
    let lsn: String = sqlx::query_scalar(
        "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')",
    )
    .bind(name)
    .fetch_one(&mut *conn)
    .await
    .map_err(ctx(format!("creating replication slot {name}")))?;
    Ok(SlotState {
        created: true,
        confirmed: Lsn::parse(&lsn).unwrap_or_default(),
    })
}

/// Up to `max_changes` changes (whole transactions) after the slot's confirmed position,
/// without consuming them: the raw pgoutput message of each row, in order.
pub async fn peek(
    conn: &mut PgConnection,
    slot: &str,
    publication: &str,
    max_changes: i32,
) -> Result<Vec<Vec<u8>>, SlotError> {
    sqlx::query_scalar(
        "SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, $2, \
         'proto_version', '1', 'publication_names', $3)",
    )
    .bind(slot)
    .bind(max_changes)
    .bind(publication)
    .fetch_all(conn)
    .await
    .map_err(ctx(format!("reading changes from replication slot {slot}")))
}

/// Confirms everything up to `lsn`; the slot never moves back.
pub async fn advance(conn: &mut PgConnection, slot: &str, lsn: Lsn) -> Result<(), SlotError> {
    sqlx::query(
        "SELECT pg_replication_slot_advance($1, $2::text::pg_lsn) \
         FROM pg_replication_slots WHERE slot_name = $1 AND confirmed_flush_lsn < $2::text::pg_lsn",
    )
    .bind(slot)
    .bind(lsn.to_string())
    .fetch_optional(conn)
    .await
    .map_err(ctx(format!("advancing replication slot {slot} to {lsn}")))?;
    Ok(())
}

/// The server's current WAL flush position.
pub async fn flush_lsn(conn: &mut PgConnection) -> Result<Lsn, SlotError> {
    let text: String = sqlx::query_scalar("SELECT pg_current_wal_flush_lsn()::text")
        .fetch_one(conn)
        .await
        .map_err(ctx("reading the current WAL position"))?;
    Lsn::parse(&text).ok_or_else(|| SlotError {
        doing: "reading the current WAL position".into(),
        source: sqlx::Error::Protocol(format!("unreadable LSN {text:?}")),
    })
}

/// `"name"`, with inner quotes doubled.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `schema.table` as `"schema"."table"`.
fn qualified(table: &str) -> String {
    match table.split_once('.') {
        Some((schema, name)) => format!("{}.{}", ident(schema), ident(name)),
        None => ident(table),
    }
}
