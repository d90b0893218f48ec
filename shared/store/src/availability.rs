//! Which database errors mean "PostgreSQL is not there right now" rather than "this request is
//! wrong": the line between waiting out an outage and giving up on a message.
//!
//! Consumes `sqlx` errors; touches nothing. Consumers of the bus map an unavailable database to
//! `weft_bus::Disposition::Unavailable` (the message waits, however long the outage) and every
//! other failure to a bounded retry.

use crate::StoreError;

/// SQLSTATEs that say the server, not the statement, is the problem: class 08 (connection
/// exception) is matched by prefix; these are the others.
const UNAVAILABLE_STATES: &[&str] = &[
    "57P01", // admin_shutdown: the server is stopping (fast shutdown ends every session)
    "57P02", // crash_shutdown: another backend crashed; the server restarts
    "57P03", // cannot_connect_now: the server is starting up or shutting down
    "53300", // too_many_connections
];

/// Whether `e` means the database is unreachable or went away: connection refused or broken
/// (I/O, TLS), no connection from the pool within its timeout, a closed pool or a crashed
/// connection worker, or the server refusing sessions (SQLSTATE class 08, `57P01`–`57P03`,
/// `53300`). A statement the server rejected for its own sake (a constraint, a syntax error, a
/// serialization failure) is not: retrying the same request would not help, or is a different
/// kind of retry.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || UNAVAILABLE_STATES.contains(&&*c)),
        _ => false,
    }
}

impl StoreError {
    /// Whether this failure is the database being unavailable ([`is_unavailable`]), so the same
    /// request can succeed once it is back; never true for a corrupt value.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Connect(e) | Self::Query { source: e, .. } => is_unavailable(e),
            Self::Migrate(sqlx::migrate::MigrateError::Execute(e)) => is_unavailable(e),
            Self::Migrate(_) | Self::Corrupt { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_level_failures_are_unavailable_and_others_are_not() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(is_unavailable(&sqlx::Error::Io(refused)));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::PoolClosed));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::Protocol("unexpected".into())));
        let corrupt = StoreError::Corrupt {
            what: "a row",
            message: "bad".into(),
        };
        assert!(!corrupt.is_unavailable());
        let query = StoreError::Query {
            what: "reading",
            source: sqlx::Error::PoolTimedOut,
        };
        assert!(query.is_unavailable());
    }
}
