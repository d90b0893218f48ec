//! The decisions of one `on.file` trigger: which file is complete, which change it is
//! (created, modified, deleted), whether it fires, and the listing state after it fired.
//!
//! Consumes stats, scans and watch notices (already turned into relative paths); produces
//! [`Fire`]s for the service to publish and act on. No I/O: the service does the stats, the
//! publishing and the `after:` action, then calls [`Folder::commit`].

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use weft_flow::triggers::{FileAfter, FileEventKind, FileTrigger};

use crate::listing::{Listing, Stamp};

/// One change to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fire {
    /// What happened to the file.
    pub kind: FileEventKind,
    /// Path relative to the watched folder.
    pub rel: String,
    /// The complete file's stamp (the last published one for `deleted`).
    pub stamp: Stamp,
    /// Publish an event (the kind is in `events:`).
    pub publish: bool,
    /// Apply `after:` (move or delete the file) once the event is stored.
    pub after: bool,
}

/// A file seen changing, not yet complete.
#[derive(Debug, Clone, Copy)]
struct Pending {
    stamp: Option<Stamp>,
    since: Instant,
}

/// State of one watched folder.
#[derive(Debug)]
pub struct Folder {
    listing: Listing,
    pending: HashMap<String, Pending>,
    events: Vec<FileEventKind>,
    after: FileAfter,
    settle: Duration,
    dirty: bool,
}

impl Folder {
    /// A folder for `config`, starting from a saved listing.
    pub fn new(config: &FileTrigger, listing: Listing) -> Self {
        Self {
            listing,
            pending: HashMap::new(),
            events: config.events.clone(),
            after: config.after,
            settle: config.settle,
            dirty: false,
        }
    }

    /// The files whose events were published.
    pub fn listing(&self) -> &Listing {
        &self.listing
    }

    /// Whether the listing changed since [`Folder::saved`].
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// The listing was saved as the cursor.
    pub fn saved(&mut self) {
        self.dirty = false;
    }

    /// Files being written right now.
    pub fn pending(&self) -> impl Iterator<Item = &str> {
        self.pending.keys().map(String::as_str)
    }

    /// A full scan: remember everything without firing (a new trigger whose files stay in
    /// place starts from what is there, like `since: now` for mail).
    pub fn baseline(&mut self, scan: &BTreeMap<String, Stamp>) {
        for (rel, stamp) in scan {
            self.listing.insert(rel, *stamp);
        }
        self.dirty = true;
    }

    /// A full scan compared with the listing: vanished files fire `deleted` now; new or
    /// changed files fire now when they have been quiet for `settle` (by their mtime), else
    /// they wait as pending.
    pub fn reconcile(
        &mut self,
        scan: &BTreeMap<String, Stamp>,
        now: Instant,
        wall_ns: i64,
    ) -> Vec<Fire> {
        let diff = self.listing.diff(scan);
        let mut fires: Vec<Fire> = diff
            .vanished
            .into_iter()
            .map(|(rel, stamp)| self.fire(FileEventKind::Deleted, rel, stamp))
            .collect();
        let settle_ns = i64::try_from(self.settle.as_nanos()).unwrap_or(i64::MAX);
        for (rel, stamp) in diff.new.into_iter().chain(diff.changed) {
            if wall_ns.saturating_sub(stamp.mtime_ns) >= settle_ns {
                fires.extend(self.complete(&rel, Some(stamp)));
            } else {
                self.written(&rel, now);
            }
        }
        fires
    }

    /// `rel` was written to (or created): it waits until it is closed or quiet for `settle`.
    pub fn written(&mut self, rel: &str, now: Instant) {
        let entry = self.pending.entry(rel.to_string()).or_insert(Pending {
            stamp: None,
            since: now,
        });
        entry.since = now;
    }

    /// The pending files' current stamps were taken: those unchanged for `settle` are
    /// complete. `stats` holds every pending path (`None`: no longer a file).
    pub fn settle(&mut self, stats: &[(String, Option<Stamp>)], now: Instant) -> Vec<Fire> {
        let mut fires = Vec::new();
        for (rel, stamp) in stats {
            let Some(p) = self.pending.get_mut(rel) else {
                continue;
            };
            if stamp.is_none() {
                self.pending.remove(rel);
                fires.extend(self.gone(rel));
            } else if p.stamp != *stamp {
                p.stamp = *stamp;
                p.since = now;
            } else if now.duration_since(p.since) >= self.settle {
                fires.extend(self.complete(rel, *stamp));
            }
        }
        fires
    }

    /// `rel` is complete (closed after writing, renamed in, or quiet) with `stamp` (`None`: it
    /// is not there any more).
    pub fn complete(&mut self, rel: &str, stamp: Option<Stamp>) -> Option<Fire> {
        self.pending.remove(rel);
        let Some(stamp) = stamp else {
            return self.gone(rel).into_iter().next();
        };
        let kind = match self.listing.get(rel) {
            None => FileEventKind::Created,
            Some(old) if old != stamp => FileEventKind::Modified,
            Some(_) => return None,
        };
        Some(self.fire(kind, rel.to_string(), stamp))
    }

    /// `rel` (a file, or a folder with files under it) left the watched folder.
    pub fn gone(&mut self, rel: &str) -> Vec<Fire> {
        let prefix = format!("{rel}/");
        self.pending
            .retain(|k, _| k != rel && !k.starts_with(&prefix));
        self.listing
            .under(rel)
            .into_iter()
            .map(|(rel, stamp)| self.fire(FileEventKind::Deleted, rel, stamp))
            .collect()
    }

    /// The fire was acted on (published and `after:` done): update the listing.
    pub fn commit(&mut self, fire: &Fire) {
        let leaves = fire.kind == FileEventKind::Deleted || fire.after;
        self.dirty |= if leaves {
            self.listing.remove(&fire.rel).is_some()
        } else {
            self.listing.insert(&fire.rel, fire.stamp)
        };
    }

    fn fire(&self, kind: FileEventKind, rel: String, stamp: Stamp) -> Fire {
        let publish = self.events.contains(&kind);
        Fire {
            kind,
            rel,
            stamp,
            publish,
            after: publish && kind != FileEventKind::Deleted && self.after != FileAfter::None,
        }
    }
}

#[cfg(test)]
#[path = "folder_tests.rs"]
mod tests;
