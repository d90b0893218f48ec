//! `on:` trigger kinds served by their own trigger services (`weft serve imap|files|cron|cdc`):
//! one module per kind, each a strict config type and its apply-time checks.
//!
//! Consumes nothing and does no I/O: the types are deserialized from the workflow file, checked
//! by [`crate::validate`] through [`Check`], and read by the trigger services from the
//! `weft_workflows` bucket. String fields that hold credentials may be written as
//! `${{ secrets.NAME }}`; the trigger service resolves them just before use.

pub mod cdc;
pub mod email;
pub mod file;
pub mod s3;
pub mod schedule;

pub use cdc::{CdcOperation, CdcTrigger};
pub use email::{EmailAfter, EmailMode, EmailSince, EmailTrigger, ImapTls};
pub use file::{FileAfter, FileEventKind, FileTrigger};
pub use s3::S3Trigger;
pub use schedule::{Catchup, Overlap, ScheduleTrigger};

/// A problem with one field of a trigger, found when the workflow is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field, relative to the trigger object (e.g. `move_to`).
    pub field: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

impl Problem {
    /// A problem with `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Apply-time checks of a trigger config beyond what deserialization enforces.
pub trait Check {
    /// The first problem found, if any.
    fn check(&self) -> Result<(), Problem>;
}

/// `field` must not be empty (after trimming).
pub(crate) fn required(field: &'static str, value: &str) -> Result<(), Problem> {
    if value.trim().is_empty() {
        return Err(Problem::new(field, format!("`{field}` must not be empty")));
    }
    Ok(())
}

/// `move_to` is required by `after: move` and meaningless otherwise.
pub(crate) fn move_target(is_move: bool, move_to: Option<&str>) -> Result<(), Problem> {
    match (is_move, move_to.map(str::trim)) {
        (true, None | Some("")) => Err(Problem::new(
            "move_to",
            "`after: move` needs `move_to` (where processed items go)",
        )),
        (false, Some(_)) => Err(Problem::new(
            "move_to",
            "`move_to` is only used with `after: move`",
        )),
        _ => Ok(()),
    }
}
