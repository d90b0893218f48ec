//! Test support for Weft's integration tests: real servers, no mocks.
//!
//! - [`NatsServer`] starts a private `nats-server -js` (>= 2.10) on a free port with its own
//!   store directory, and stops it by PID (on [`NatsServer::stop`] or drop).
//! - [`MotoServer`] starts a private `moto_server` (an in-memory S3-compatible server) on a
//!   free port, and stops it by PID.
//! - [`TestDb`] creates a uniquely named database on the PostgreSQL server named by
//!   `WEFT_TEST_PG_URL` (started by `scripts/test`) and drops it on drop.
//! - [`PgServer`] initialises and starts a private PostgreSQL with `wal_level=logical` (for
//!   CDC tests), stops it by PID and starts it again on the same port and data.
//! - [`Dovecot`] starts a private Dovecot IMAP server (plain text, one test user, Maildir in a
//!   temporary directory) on a free port, appends mail by IMAP and stops it by PID.
//! - [`SmtpServer`] starts a private SMTP server (aiosmtpd) on a free port that stores every
//!   message it accepts, optionally with STARTTLS or implicit TLS, AUTH and refused recipients,
//!   and stops it by PID.
//! - [`Schemathesis`] runs Schemathesis' `st run` against a live OpenAPI document and returns
//!   its report, killing it by PID at a time limit.
//! - [`ChildProcess`] runs any program (e.g. `weft serve router`) with its output in a log
//!   file, for crash tests; it is killed by PID on drop.
//! - [`stored_messages`] reads back what the services stored in a JetStream stream.
//! - [`free_port`], [`wait_for`] and [`init_crypto`] are small helpers.
//!
//! Every test gets its own servers, so tests run in parallel and repeatedly.

mod db;
mod dovecot;
mod moto;
mod nats;
mod pg;
mod process;
mod schemathesis;
mod smtp;
mod stream;
mod wait;

pub use db::TestDb;
pub use dovecot::{Dovecot, ImapSession};
pub use moto::{MotoCredentials, MotoServer};
pub use nats::NatsServer;
pub use pg::PgServer;
pub use process::ChildProcess;
pub use schemathesis::{Schemathesis, SchemathesisReport};
pub use smtp::{ReceivedMail, SmtpOptions, SmtpServer, SmtpTls};
pub use stream::stored_messages;
pub use wait::wait_for;

/// The checkout the tests run in: its workspace root, found from `CARGO_MANIFEST_DIR` as set
/// when the test *runs* (cargo and nextest set it), not as compiled in. A build cache outside
/// the clone may hold a test binary compiled in another checkout (cargo does not rebuild a
/// workspace member just because the workspace moved), whose compiled-in path can be gone.
pub fn repo_root() -> std::path::PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    manifest
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .map(std::path::Path::to_path_buf)
        .unwrap_or(manifest)
}

/// A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it; the socket is then
/// closed, so a server can bind it). Starts nothing.
pub fn free_port() -> u16 {
    for _ in 0..10 {
        if let Ok(addr) = std::net::TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr())
        {
            return addr.port();
        }
    }
    // Binding port 0 on loopback only fails on a broken host. Pick an ephemeral-range port;
    // if it is taken, the caller's bind says so.
    let spread = (std::process::id() ^ uuid::Uuid::new_v4().as_u128() as u32) % 16_000;
    49_152 + spread as u16
}

/// Installs rustls' ring crypto provider as the process default, once; a provider that is
/// already installed (by this or anything else) is left in place.
pub fn init_crypto() {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}
