//! The email executor: runs `uses: email` steps, sending one message over SMTP with lettre.
//!
//! Consumes a step's `with:` ([`EmailWith`]: server, addresses, subject, text and HTML bodies,
//! extra headers, attachments given inline or as artifact references); produces
//! [`EmailOutput`] `{message_id, accepted, rejected, response}` or a `StepError` with a code
//! from the executors' shared set (`bad_input`, `connect`, `smtp`, `timeout`,
//! `artifact_not_found`, `cancelled`). Touches the step's SMTP server and, for attachments
//! given by reference, the artifact store (reading only). Logs an SMTP transcript summary per
//! attempt (`connected to host:587 (starttls)`, `250 accepted for a@example.com`, …); the
//! password never appears.
//!
//! # Recipients
//!
//! Each recipient gets its own `RCPT TO`, and its answer is kept. The message goes to the
//! accepted ones; the refused ones are listed in `rejected` with the server's code and text,
//! and the step succeeds. When the server refuses every recipient the step fails before any
//! data is sent (`smtp`, retryable when at least one refusal was a 4xx). A step that must reach
//! everyone sets `require_all_recipients: true`: one refusal then fails the attempt before
//! `DATA`, so nothing is sent and a retry cannot duplicate anything.
//!
//! # One message per step: the Message-ID
//!
//! SMTP has no idempotency: a server that accepted a message accepts the same bytes again.
//! What a retry can do is make the copy recognisable. Every attempt of a step carries the same
//! `Message-ID`, `<UUIDv5(execution id / step id)@domain>` (the domain is the `from` address's,
//! or the setting `message_id_domain`). The attempt id would not do: the same attempt
//! redelivered keeps its id, but a step the router retries after a lost result (the executor
//! died after the server's `250`, the attempt timed out while the answer was on its way) runs
//! as a *new* attempt with a new id — and it is exactly that case that sends a second copy.
//!
//! What the receiving side sees: at most one message per step in the normal case. When a
//! result was lost after the server had accepted the message, a second copy arrives with the
//! identical Message-ID; mail stores and clients that suppress duplicates by Message-ID
//! (Gmail's conversation view, Thunderbird, Sieve `duplicate`, `formail -D`, list managers)
//! show it once, others show two copies of one message. A new execution (a new run, or a
//! re-run of the execution as a new one) is a new message with a new Message-ID. Attempts of
//! a step that failed before `DATA` (connection refused, 4xx) sent nothing at all.
//!
//! # Modules
//!
//! [`with`] (the step's input and output types), [`config`] (service settings),
//! [`attachments`] (bytes of attachments), [`message`] (MIME message and envelope),
//! [`send`] (the SMTP session; its failures are mapped in `failure`), [`agent`] (one attempt end to end, and the `Agent` impl).

pub mod agent;
pub mod attachments;
pub mod config;
mod failure;
pub mod message;
pub mod send;
pub mod with;

pub use agent::{EmailAgent, ExecEmailError, StepKey};
pub use config::ExecEmailConfig;
pub use with::{Attachment, EmailOutput, EmailWith, RejectedRecipient};

/// A permanent `bad_input` failure.
pub(crate) fn bad_input(message: impl Into<String>) -> weft_executor::StepError {
    weft_executor::StepError::permanent(weft_executor::ErrorCode::BadInput, message)
}
