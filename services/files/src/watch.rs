//! The inotify watch of one folder (through `notify`), turned into the few notices the
//! trigger acts on.
//!
//! Consumes kernel file events for the folder (and its sub-folders when recursive); produces
//! [`Notice`]s on an unbounded channel. Touches the file system only through inotify. The
//! watch stops when the [`Watch`] is dropped.

use std::path::{Path, PathBuf};

use notify::{
    Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _,
    event::{AccessKind, AccessMode, CreateKind, Flag, ModifyKind, RenameMode},
};
use tokio::sync::mpsc;

/// What happened in the watched folder, as far as the trigger cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Created or written to: maybe incomplete, wait for a close or for `settle`.
    Written(PathBuf),
    /// Closed after writing: complete now.
    Closed(PathBuf),
    /// Renamed or moved into the folder (a file: complete now; a folder: scan it).
    Arrived(PathBuf),
    /// A folder was created (scan it: files may land before its watch exists).
    FolderCreated(PathBuf),
    /// Removed, or renamed away (a file, a folder, or the watched folder itself).
    Left(PathBuf),
    /// Events were lost (queue overflow or a watch error): compare a full scan.
    Rescan(String),
}

/// A running watch; dropping it stops the watch.
#[derive(Debug)]
pub struct Watch {
    _watcher: RecommendedWatcher,
}

impl Watch {
    /// Watch `root` (and its sub-folders when `recursive`); notices go to the returned channel.
    pub fn start(
        root: &Path,
        recursive: bool,
    ) -> notify::Result<(Self, mpsc::UnboundedReceiver<Notice>)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<Event>| {
            let notices = match res {
                Ok(event) => notices(event),
                Err(e) => vec![Notice::Rescan(format!("watch error: {e}"))],
            };
            for n in notices {
                // The receiver is gone only when the trigger stopped.
                let _ = tx.send(n);
            }
        })?;
        let mode = if recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        watcher.watch(root, mode)?;
        Ok((Self { _watcher: watcher }, rx))
    }
}

/// The notices of one `notify` event.
fn notices(event: Event) -> Vec<Notice> {
    if event.flag() == Some(Flag::Rescan) {
        return vec![Notice::Rescan("the kernel's event queue overflowed".into())];
    }
    let wrap: fn(PathBuf) -> Notice = match event.kind {
        EventKind::Create(CreateKind::Folder) => Notice::FolderCreated,
        EventKind::Create(_) | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any) => {
            Notice::Written
        }
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Notice::Closed,
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => Notice::Arrived,
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) | EventKind::Remove(_) => {
            Notice::Left
        }
        // `Both` repeats a From and a To already reported; opens, reads and metadata changes
        // do not make a file complete.
        _ => return Vec::new(),
    };
    event.paths.into_iter().map(wrap).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn next(
        rx: &mut mpsc::UnboundedReceiver<Notice>,
        want: impl Fn(&Notice) -> bool,
    ) -> Notice {
        let wait = async {
            loop {
                let n = rx.recv().await.expect("watch runs");
                if want(&n) {
                    return n;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .expect("notice within 5 s")
    }

    #[tokio::test]
    async fn write_close_rename_and_remove_are_noticed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        let (_watch, mut rx) = Watch::start(&root, false).expect("watch");
        let a = root.join("a.txt");
        std::fs::write(&a, "hello").expect("write");
        assert_eq!(
            next(&mut rx, |n| matches!(n, Notice::Closed(_))).await,
            Notice::Closed(a.clone())
        );
        let outside = dir
            .path()
            .parent()
            .expect("parent")
            .join(format!("weft-out-{}", std::process::id()));
        std::fs::write(&outside, "x").expect("write outside");
        let b = root.join("b.txt");
        std::fs::rename(&outside, &b).expect("rename in");
        assert_eq!(
            next(&mut rx, |n| matches!(n, Notice::Arrived(_))).await,
            Notice::Arrived(b.clone())
        );
        std::fs::remove_file(&a).expect("rm");
        assert_eq!(
            next(&mut rx, |n| matches!(n, Notice::Left(_))).await,
            Notice::Left(a)
        );
    }
}
