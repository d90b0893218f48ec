//! `on.file`: files landing in a local folder.

use std::{path::Path, time::Duration};

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
        if let Some(glob) = &self.glob {
            globset::Glob::new(glob)
                .map_err(|e| Problem::new("glob", format!("invalid glob `{glob}`: {e}")))?;
        }
        if self.settle < Self::MIN_SETTLE {
            return Err(Problem::new("settle", "`settle` must be at least 100ms"));
        }
        move_target(self.after == FileAfter::Move, self.move_to.as_deref())?;
        match &self.move_to {
            Some(to) => self.check_move_to(to),
            None => Ok(()),
        }
    }
}

impl FileTrigger {
    /// Shortest `settle`: below it a pause of the writer would count as the end of the file.
    const MIN_SETTLE: Duration = Duration::from_millis(100);

    /// `move_to` is absolute and outside what is watched (else moved files would fire again).
    fn check_move_to(&self, to: &str) -> Result<(), Problem> {
        if !to.starts_with('/') {
            return Err(Problem::new(
                "move_to",
                format!("`move_to` must be absolute, got `{to}`"),
            ));
        }
        let (to, from) = (Path::new(to), Path::new(&self.path));
        if to == from || (self.recursive && to.starts_with(from)) {
            return Err(Problem::new(
                "move_to",
                format!(
                    "`move_to` `{}` is inside the watched folder `{}`: moved files would fire again",
                    to.display(),
                    from.display()
                ),
            ));
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(yaml: &str) -> FileTrigger {
        yaml_serde::from_str(yaml).expect("parses")
    }

    fn field(yaml: &str) -> Option<&'static str> {
        trigger(yaml).check().err().map(|p| p.field)
    }

    #[test]
    fn good_configs_pass() {
        assert_eq!(field("path: /in"), None);
        assert_eq!(
            field("{path: /in, glob: '**/*.{csv,json}', recursive: true}"),
            None
        );
        assert_eq!(field("{path: /in, after: move, move_to: /in/done}"), None);
        assert_eq!(
            field("{path: /in, after: move, move_to: /done, recursive: true}"),
            None
        );
    }

    #[test]
    fn bad_configs_name_their_field() {
        assert_eq!(field("path: in"), Some("path"));
        assert_eq!(field("{path: /in, glob: 'a[b'}"), Some("glob"));
        assert_eq!(field("{path: /in, events: []}"), Some("events"));
        assert_eq!(field("{path: /in, settle: 10ms}"), Some("settle"));
        assert_eq!(field("{path: /in, after: move}"), Some("move_to"));
        assert_eq!(
            field("{path: /in, after: move, move_to: done}"),
            Some("move_to")
        );
        assert_eq!(
            field("{path: /in, after: move, move_to: /in/}"),
            Some("move_to")
        );
        let inside = "{path: /in, recursive: true, after: move, move_to: /in/done}";
        assert_eq!(field(inside), Some("move_to"));
    }
}
