//! Acting on one trigger instance's decisions: stat and scan the folder, publish each fired
//! change, then apply `after:` and record it; save the listing and the cursor.
//!
//! Consumes notices already mapped to files (from [`crate::source`]); produces events through
//! [`TriggerCtx::publish`] (with the JetStream ack awaited before the file is moved, deleted or
//! recorded), file moves and deletions, and the saved listing. File-system work runs on the
//! blocking pool.

use std::{
    collections::BTreeMap,
    io,
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use weft_flow::triggers::{FileAfter, FileTrigger};
use weft_trigger::{TriggerCtx, TriggerError};

use crate::{
    after, data,
    filter::Filter,
    folder::{Fire, Folder},
    listing::Stamp,
    scan,
    store::ListingStore,
};

/// Least time between two saves of the listing while files keep changing. A crash loses at
/// most this much of it; the scan then re-publishes those events under their old ids, which
/// JetStream and the router drop.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// One instance's state and its handle on the runtime.
#[derive(Debug)]
pub struct Actor {
    /// The runtime handle.
    pub ctx: TriggerCtx<FileTrigger>,
    /// The decisions.
    pub folder: Folder,
    store: ListingStore,
    first_run: bool,
    saved_once: bool,
    last_save: Instant,
    degraded: bool,
}

impl Actor {
    /// An actor starting from `folder`'s listing; `first_run` when no cursor was saved yet.
    pub fn new(
        ctx: TriggerCtx<FileTrigger>,
        store: ListingStore,
        folder: Folder,
        first_run: bool,
    ) -> Self {
        Self {
            ctx,
            folder,
            store,
            first_run,
            saved_once: !first_run,
            last_save: Instant::now(),
            degraded: false,
        }
    }

    /// Scan the whole folder and compare it with the listing. The inner error says the folder
    /// cannot be read.
    pub async fn full_scan(
        &mut self,
        root: &Path,
        filter: &Filter,
    ) -> Result<Result<(), String>, TriggerError> {
        let found = match blocking_scan(root, filter, None).await {
            Ok(found) => found,
            Err(e) => return Ok(Err(format!("cannot read {}: {e}", root.display()))),
        };
        if std::mem::take(&mut self.first_run)
            && !crate::source::fires_existing_files(&self.ctx.config)
        {
            self.folder.baseline(&found);
        } else {
            let fires = self.folder.reconcile(&found, Instant::now(), wall_ns());
            self.act(root, fires).await?;
        }
        Ok(Ok(()))
    }

    /// The file at `path` is complete (closed after writing, or renamed in).
    pub async fn complete(
        &mut self,
        root: &Path,
        filter: &Filter,
        path: &Path,
    ) -> Result<(), TriggerError> {
        let Some(rel) = scan::relative(root, path).filter(|r| filter.wants(r)) else {
            return Ok(());
        };
        let stamp = blocking_stat(path.to_path_buf()).await;
        if let Some(fire) = self.folder.complete(&rel, stamp) {
            self.act(root, vec![fire]).await?;
        }
        Ok(())
    }

    /// A folder appeared: its files are complete when it was moved in (`moved_in`), else they
    /// may still be written and wait for a close or for `settle`.
    pub async fn sub_folder(
        &mut self,
        root: &Path,
        filter: &Filter,
        path: &Path,
        moved_in: bool,
    ) -> Result<(), TriggerError> {
        let Some(rel) = scan::relative(root, path).filter(|r| filter.descends(r)) else {
            return Ok(());
        };
        let Ok(found) = blocking_scan(root, filter, Some(rel)).await else {
            return Ok(()); // gone again already: its removal is noticed on its own
        };
        let now = Instant::now();
        let mut fires = Vec::new();
        for (rel, stamp) in found {
            if moved_in {
                fires.extend(self.folder.complete(&rel, Some(stamp)));
            } else {
                self.folder.written(&rel, now);
            }
        }
        self.act(root, fires).await
    }

    /// Look at the pending files; fire those quiet for `settle`.
    pub async fn settle(&mut self, root: &Path) -> Result<(), TriggerError> {
        let rels: Vec<String> = self.folder.pending().map(str::to_string).collect();
        if rels.is_empty() {
            return Ok(());
        }
        let base = root.to_path_buf();
        let stats = tokio::task::spawn_blocking(move || {
            rels.into_iter()
                .map(|rel| {
                    let stamp = scan::stat(&base.join(&rel)).ok().flatten();
                    (rel, stamp)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(TriggerError::source)?;
        let fires = self.folder.settle(&stats, Instant::now());
        self.act(root, fires).await
    }

    /// Publish each fire (when its kind is configured), apply `after:`, record it.
    pub async fn act(&mut self, root: &Path, fires: Vec<Fire>) -> Result<(), TriggerError> {
        for fire in fires {
            if fire.publish && !self.publish(root, &fire).await? {
                continue; // vanished before it could be read: its removal is noticed on its own
            }
            self.folder.commit(&fire);
        }
        Ok(())
    }

    /// Save the listing and cursor when changed: at once with `now`, else at most every
    /// [`SAVE_EVERY`]. A new trigger saves even an empty listing (it is no longer new).
    pub async fn save(&mut self, now: bool) -> Result<(), TriggerError> {
        let due = now || self.last_save.elapsed() >= SAVE_EVERY;
        if !(due && (self.folder.is_dirty() || !self.saved_once)) {
            return Ok(());
        }
        let cursor = self.store.save(self.folder.listing()).await?;
        self.ctx.save_cursor(&cursor).await?;
        self.folder.saved();
        self.saved_once = true;
        self.last_save = Instant::now();
        Ok(())
    }

    /// Publish one fire and do its `after:`; false when the file vanished first.
    async fn publish(&mut self, root: &Path, fire: &Fire) -> Result<bool, TriggerError> {
        let config = &self.ctx.config;
        let moved_to = match (fire.after, config.after) {
            (true, FileAfter::Move) => data::planned(config.move_to.as_deref(), &fire.rel),
            _ => None,
        };
        let (base, f, to) = (root.to_path_buf(), fire.clone(), moved_to.clone());
        let built = tokio::task::spawn_blocking(move || data::data(&base, &f, to.as_deref()))
            .await
            .map_err(TriggerError::source)?;
        let payload = match built {
            Ok(payload) => payload,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => {
                return Err(TriggerError::source(format!(
                    "cannot read {}: {e}",
                    root.join(&fire.rel).display()
                )));
            }
        };
        let parts = data::id_parts(fire);
        let id = self.ctx.event_id(&parts.each_ref().map(String::as_str));
        self.ctx
            .publish(&id, data::event_type(fire.kind), Some(&fire.rel), payload)
            .await?;
        if fire.after {
            self.after(root.join(&fire.rel), moved_to).await;
        }
        Ok(true)
    }

    /// Move or delete a published file; a failure is reported in the trigger's health.
    async fn after(&mut self, path: PathBuf, moved_to: Option<PathBuf>) {
        let what = path.display().to_string();
        let done = tokio::task::spawn_blocking(move || match moved_to {
            Some(to) => after::move_file(&path, &to).map(drop),
            None => after::delete_file(&path),
        })
        .await;
        match done {
            Ok(Ok(())) if self.degraded => {
                self.degraded = false;
                self.ctx.healthy();
            }
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.after_failed(format!("moving or deleting {what} failed: {e}")),
            Err(e) => self.after_failed(format!("moving or deleting {what} failed: {e}")),
        }
    }

    fn after_failed(&mut self, message: String) {
        tracing::error!(workflow = %self.ctx.workflow, %message, "after-action failed");
        self.degraded = true;
        self.ctx.unhealthy(message);
    }
}

async fn blocking_scan(
    root: &Path,
    filter: &Filter,
    under: Option<String>,
) -> io::Result<BTreeMap<String, Stamp>> {
    let (root, filter) = (root.to_path_buf(), filter.clone());
    tokio::task::spawn_blocking(move || scan::scan(&root, &filter, under.as_deref()))
        .await
        .map_err(io::Error::other)?
}

async fn blocking_stat(path: PathBuf) -> Option<Stamp> {
    tokio::task::spawn_blocking(move || scan::stat(&path).ok().flatten())
        .await
        .ok()
        .flatten()
}

fn wall_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
