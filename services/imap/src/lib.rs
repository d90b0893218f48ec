//! The IMAP mail trigger (`on.email`, `weft serve imap`): new messages in a watched mailbox
//! become `dev.weft.email.received` CloudEvents.
//!
//! Consumes the applied workflows' `on.email` blocks (through [`weft_trigger::TriggerService`],
//! which starts, restarts and stops one instance per block live) and IMAP servers; produces
//! events on `weft.events.email` whose ids derive from (mailbox, UIDVALIDITY, UID), a cursor per
//! instance in the `weft_cursors` bucket, and attachments in the artifact store executors read
//! (the JetStream object store `weft_artifacts`; the event carries them as artifact
//! references). Touches NATS and the IMAP servers.
//!
//! ```text
//! let source = ImapSource::new(weft_executor::Artifacts::jetstream(&bus).await?);
//! TriggerService::new(source, weft_trigger::TriggerDeps::without_secrets(bus)).run(shutdown).await;
//! ```
//!
//! Modules: [`connect`] (TCP/TLS/STARTTLS, login, deadlines), [`mailbox`] (IMAP commands),
//! [`cursor`] (where to resume), [`message`] (MIME → event data), [`watch`] (the session loop).

pub mod connect;
pub mod cursor;
pub mod error;
pub mod mailbox;
pub mod message;
mod source;
pub mod watch;

pub use error::ImapError;
pub use source::ImapSource;
