//! `on.file`: files landing in a local folder.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Problem, move_target, required};

/// `on.file`: watch a local folder; each complete file becomes a `dev.weft.file.<event>` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileTrigger {
    /// The folder to watch (absolute).
    pub path: String,
    /// Only names matching this glob, e.g. `*.csv` (matched against the path relative to
    /// `path`). Default: every file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glob: Option<String>,
    /// Watch sub-folders too.
    #[serde(default)]
    pub recursive: bool,
    /// Which changes fire. Default: `[created]`.
    #[serde(default = "FileTrigger::default_events")]
    pub events: Vec<FileEventKind>,
    /// A file counts as complete when closed after writing, renamed into the folder, or when
    /// its size and modification time have not changed for this long.
    #[serde(
        default = "FileTrigger::default_settle",
        with = "crate::duration::required"
    )]
    #[schemars(with = "crate::duration::DurationString")]
    pub settle: Duration,
    /// What to do with a file once its event is stored.
    #[serde(default)]
    pub after: FileAfter,
    /// Destination folder for `after: move`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_to: Option<String>,
}

impl FileTrigger {
    fn default_events() -> Vec<FileEventKind> {
        vec![FileEventKind::Created]
    }
    fn default_settle() -> Duration {
        Duration::from_secs(1)
    }
}

impl Check for FileTrigger {
    fn check(&self) -> Result<(), Problem> {
        required("path", &self.path)?;
        if !self.path.starts_with('/') {
            return Err(Problem::new(
                "path",
                format!("`path` must be absolute, got `{}`", self.path),
            ));
        }
        if self.events.is_empty() {
            return Err(Problem::new(
                "events",
                "`events` must name at least one of created, modified, deleted",
            ));
        }
        move_target(self.after == FileAfter::Move, self.move_to.as_deref())
    }
}

/// A kind of change to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileEventKind {
    /// A new, complete file.
    Created,
    /// An existing file was rewritten (complete again).
    Modified,
    /// A file was removed.
    Deleted,
}

/// What happens to a file (or object) after its event is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileAfter {
    /// Leave it.
    #[default]
    None,
    /// Move it to `move_to`.
    Move,
    /// Delete it.
    Delete,
}
