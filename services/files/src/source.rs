//! [`FileSource`]: the `on.file` kind for the shared trigger runtime, and the life of one
//! instance: wait for the folder, watch it, scan it, then act on notices and settle ticks
//! until shutdown or until the folder goes away (then wait for it again).
//!
//! Consumes the instance's config and cursor (through [`TriggerCtx`]), the folder's inotify
//! notices and stats; produces `dev.weft.file.*` events (published with a JetStream ack before
//! anything else happens), moves or deletes files (`after:`), and saves the listing and cursor.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use tokio::sync::mpsc::UnboundedReceiver;
use weft_flow::triggers::{FileAfter, FileTrigger};
use weft_trigger::{Source, TriggerCtx, TriggerError};

use crate::{
    act::Actor,
    filter::Filter,
    folder::Folder,
    listing::Listing,
    scan,
    store::{FileCursor, ListingStore},
    watch::{Notice, Watch},
};

/// How often a missing or unreadable folder is looked for again.
const FOLDER_RETRY: Duration = Duration::from_secs(1);
/// Notices handled before the loop looks at ticks and shutdown again.
const BATCH: usize = 1_000;

/// The local-folder trigger (`on.file`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FileSource;

impl Source for FileSource {
    const KIND: &'static str = "file";
    type Config = FileTrigger;

    fn configs(on: &weft_flow::Triggers) -> &[FileTrigger] {
        on.file.as_slice()
    }

    /// The folder, the recursion and the glob: a change of any of them watches something else
    /// and starts a fresh listing; `events`, `settle` and `after` keep it.
    fn scope(config: &FileTrigger) -> String {
        format!(
            "file://{}?recursive={}&glob={}",
            config.path,
            config.recursive,
            config.glob.as_deref().unwrap_or("")
        )
    }

    async fn run(&self, ctx: TriggerCtx<FileTrigger>) -> Result<(), TriggerError> {
        let filter = Filter::new(ctx.config.glob.as_deref(), ctx.config.recursive)
            .map_err(|e| TriggerError::source(format!("invalid glob: {e}")))?;
        let store = ListingStore::open(ctx.bus(), &ctx.workflow, &Self::scope(&ctx.config)).await?;
        let cursor: Option<FileCursor> = ctx.cursor().await?;
        let listing = match &cursor {
            Some(c) => store.load(c).await?,
            None => Listing::default(),
        };
        let folder = Folder::new(&ctx.config, listing);
        let mut actor = Actor::new(ctx, store, folder, cursor.is_none());
        let root = PathBuf::from(&actor.ctx.config.path);
        loop {
            if !wait_for_folder(&actor.ctx, &root).await {
                return Ok(());
            }
            match watch(&mut actor, &root, &filter).await? {
                Some(gone) => {
                    tracing::warn!(workflow = %actor.ctx.workflow, error = %gone, "watched folder lost");
                    actor.ctx.unhealthy(&gone);
                }
                None => {
                    actor.save(true).await?;
                    return Ok(());
                }
            }
        }
    }
}

/// Until `root` is a readable folder (true) or shutdown (false); unhealthy meanwhile.
async fn wait_for_folder(ctx: &TriggerCtx<FileTrigger>, root: &Path) -> bool {
    let mut said = String::new();
    loop {
        let probe = root.to_path_buf();
        let problem = match tokio::task::spawn_blocking(move || std::fs::read_dir(&probe)).await {
            Ok(Ok(_)) => return true,
            Ok(Err(e)) => format!("watched folder {}: {e}", root.display()),
            Err(e) => format!("watched folder {}: {e}", root.display()),
        };
        if problem != said {
            tracing::warn!(workflow = %ctx.workflow, %problem, "waiting for the folder");
            ctx.unhealthy(&problem);
            said = problem;
        }
        tokio::select! {
            _ = ctx.shutdown.wait() => return false,
            _ = tokio::time::sleep(FOLDER_RETRY) => {}
        }
    }
}

/// Watch and scan `root`, then act until shutdown (`None`) or until the folder is lost
/// (`Some(why)`).
async fn watch(
    actor: &mut Actor,
    root: &Path,
    filter: &Filter,
) -> Result<Option<String>, TriggerError> {
    let (watch, mut rx) = match Watch::start(root, actor.ctx.config.recursive) {
        Ok(w) => w,
        Err(e) => return Ok(Some(format!("cannot watch {}: {e}", root.display()))),
    };
    if let Err(e) = actor.full_scan(root, filter).await? {
        return Ok(Some(e));
    }
    actor.save(true).await?;
    actor.ctx.healthy();
    let stop = actor.ctx.shutdown.clone();
    let mut tick = tokio::time::interval(tick_period(actor.ctx.config.settle));
    let outcome = loop {
        tokio::select! {
            _ = stop.wait() => break None,
            notice = rx.recv() => match notice {
                Some(n) => if let Some(gone) = handle_batch(actor, root, filter, n, &mut rx).await? {
                    break Some(gone);
                },
                None => break Some("the folder watch ended".to_string()),
            },
            _ = tick.tick() => {
                if !root.is_dir() {
                    break Some(format!("watched folder {} is gone", root.display()));
                }
                actor.settle(root).await?;
                actor.save(false).await?;
            }
        }
    };
    drop(watch);
    Ok(outcome)
}

/// Handle `first` and whatever else is queued (up to [`BATCH`]).
async fn handle_batch(
    actor: &mut Actor,
    root: &Path,
    filter: &Filter,
    first: Notice,
    rx: &mut UnboundedReceiver<Notice>,
) -> Result<Option<String>, TriggerError> {
    let mut next = Some(first);
    let mut handled = 0;
    while let Some(notice) = next {
        if let Some(gone) = handle(actor, root, filter, notice).await? {
            return Ok(Some(gone));
        }
        handled += 1;
        next = if handled < BATCH {
            rx.try_recv().ok()
        } else {
            None
        };
    }
    actor.save(false).await?;
    Ok(None)
}

async fn handle(
    actor: &mut Actor,
    root: &Path,
    filter: &Filter,
    notice: Notice,
) -> Result<Option<String>, TriggerError> {
    let now = Instant::now();
    match notice {
        Notice::Left(p) if p == root => {
            return Ok(Some(format!(
                "watched folder {} was removed or moved",
                root.display()
            )));
        }
        Notice::Left(p) => {
            if let Some(rel) = scan::relative(root, &p) {
                let fires = actor.folder.gone(&rel);
                actor.act(root, fires).await?;
            }
        }
        Notice::Written(p) => {
            if let Some(rel) = scan::relative(root, &p).filter(|r| filter.wants(r)) {
                actor.folder.written(&rel, now);
            }
        }
        Notice::Closed(p) => actor.complete(root, filter, &p).await?,
        Notice::Arrived(p) if p.is_dir() => actor.sub_folder(root, filter, &p, true).await?,
        Notice::Arrived(p) => actor.complete(root, filter, &p).await?,
        Notice::FolderCreated(p) => actor.sub_folder(root, filter, &p, false).await?,
        Notice::Rescan(why) => {
            tracing::warn!(workflow = %actor.ctx.workflow, %why, "rescanning the folder");
            if let Err(e) = actor.full_scan(root, filter).await? {
                return Ok(Some(e));
            }
        }
    }
    Ok(None)
}

/// How often pending files are looked at: a quarter of `settle`, between 50 ms and 500 ms.
fn tick_period(settle: Duration) -> Duration {
    (settle / 4).clamp(Duration::from_millis(50), Duration::from_millis(500))
}

/// Whether files fire where they stand on the first run (a folder whose files leave after
/// their event is a queue: what is in it has not been handled yet).
pub(crate) fn fires_existing_files(config: &FileTrigger) -> bool {
    config.after != FileAfter::None
}
