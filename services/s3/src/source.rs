//! [`S3Source`]: the `on.s3` kind for the shared trigger runtime. One run of one trigger
//! instance checks the bucket (HeadBucket: a wrong endpoint, bucket or key fails here with a
//! clear message), loads the cursor, then polls every `poll_interval` until shutdown:
//! list → publish each new or changed object (waiting for the JetStream ack) → `after:` step
//! → save what was seen (object store) and the cursor naming it. Any S3 or bus failure ends the run with an error; the runtime shows it
//! in the trigger's health and runs it again with backoff.
//!
//! Consumes `S3Trigger` configs (secrets resolved) and the bucket; produces
//! `dev.weft.s3.object.created|updated` events, the seen objects in `weft_s3_listings` and
//! the cursor in `weft_cursors`; deletes or
//! moves objects only with `after: delete|move`.

use serde_json::json;
use weft_events::types::{S3_OBJECT_CREATED, S3_OBJECT_UPDATED};
use weft_flow::Triggers;
use weft_flow::triggers::{FileAfter, S3Trigger};
use weft_trigger::{Source, TriggerCtx, TriggerError};

use crate::bucket::{Bucket, ObjectInfo, Outcome};
use crate::cursor::{Action, Seen, plan};
use crate::store::{S3Cursor, SeenStore};
use crate::{S3Error, S3Settings, keys, s3_client};

/// What was seen is saved at least every this many events within one listing, so a crash in
/// a large first listing re-publishes (deduplicated downstream) at most this many.
const SAVE_EVERY: usize = 200;

/// The `on.s3` trigger kind.
#[derive(Debug, Clone, Default)]
pub struct S3Source {
    /// Keys per listing page; `None` is S3's maximum (1000). Tests make it small to
    /// exercise pagination.
    pub page_size: Option<i32>,
}

impl Source for S3Source {
    const KIND: &'static str = "s3";
    type Config = S3Trigger;

    fn configs(on: &Triggers) -> &[S3Trigger] {
        on.s3.as_slice()
    }

    fn scope(config: &S3Trigger) -> String {
        scope(config)
    }

    async fn run(&self, ctx: TriggerCtx<S3Trigger>) -> Result<(), TriggerError> {
        Poller::new(&ctx.config, self.page_size).run(&ctx).await
    }
}

/// What is watched: endpoint, bucket and prefix (credentials and timing are not part of it).
pub fn scope(config: &S3Trigger) -> String {
    let prefix = config.prefix.as_deref().unwrap_or_default();
    match &config.endpoint {
        Some(endpoint) => format!(
            "{}/{}/{prefix}",
            endpoint.trim_end_matches('/'),
            config.bucket
        ),
        None => format!("s3://{}/{prefix}", config.bucket),
    }
}

/// One trigger instance's polling state.
struct Poller {
    bucket: Bucket,
    config: S3Trigger,
    prefix: String,
    after: AfterStep,
}

/// The `after:` setting, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AfterStep {
    /// Leave the object.
    Keep,
    /// Delete it.
    Delete,
    /// Move it under this folder (`move_to` with a trailing `/`).
    Move(String),
}

impl AfterStep {
    fn of(config: &S3Trigger) -> Self {
        match (&config.after, &config.move_to) {
            (FileAfter::Delete, _) => Self::Delete,
            // apply-time checks make `move_to` present with `after: move`
            (FileAfter::Move, Some(to)) => Self::Move(keys::as_folder(to)),
            _ => Self::Keep,
        }
    }

    /// The folder the listing skips (moved objects).
    fn moved_folder(&self) -> Option<&str> {
        match self {
            Self::Move(folder) => Some(folder),
            _ => None,
        }
    }
}

impl Poller {
    fn new(config: &S3Trigger, page_size: Option<i32>) -> Self {
        let settings = S3Settings::from(config);
        let mut bucket = Bucket::new(
            s3_client(&settings),
            &config.bucket,
            &settings.describe_endpoint(),
        );
        if let Some(size) = page_size {
            bucket = bucket.with_page_size(size);
        }
        Self {
            bucket,
            config: config.clone(),
            prefix: config.prefix.clone().unwrap_or_default(),
            after: AfterStep::of(config),
        }
    }

    async fn run(&self, ctx: &TriggerCtx<S3Trigger>) -> Result<(), TriggerError> {
        self.bucket.check().await.map_err(TriggerError::source)?;
        let store = SeenStore::open(ctx.bus(), &ctx.workflow, &scope(&self.config)).await?;
        let cursor: Option<S3Cursor> = ctx.cursor().await?;
        let mut seen = store.load(cursor.as_ref()).await?;
        ctx.healthy();
        loop {
            self.poll(ctx, &store, &mut seen).await?;
            tokio::select! {
                () = ctx.shutdown.wait() => return Ok(()),
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    /// One listing: publish what is new or changed, run the after-steps, save what was seen.
    async fn poll(
        &self,
        ctx: &TriggerCtx<S3Trigger>,
        store: &SeenStore,
        seen: &mut Seen,
    ) -> Result<(), TriggerError> {
        let listing = self
            .bucket
            .list(&self.prefix, self.after.moved_folder())
            .await
            .map_err(TriggerError::source)?;
        let mut dirty = seen.retain_listed(&listing);
        let mut unsaved = 0;
        let mut failure = None;
        let after_step = self.after != AfterStep::Keep;
        for (action, object) in plan(seen, &listing, after_step) {
            if ctx.shutdown.is_triggered() {
                break;
            }
            if let Err(e) = self.handle(ctx, seen, action, object).await {
                failure = Some(e);
                break;
            }
            dirty = true;
            unsaved += 1;
            if unsaved >= SAVE_EVERY {
                save(ctx, store, seen).await?;
                unsaved = 0;
            }
        }
        if dirty {
            save(ctx, store, seen).await?;
        }
        failure.map_or(Ok(()), Err)
    }

    /// Publishes one object's event (unless only its after-step is due), records it as seen,
    /// then runs the after-step; a finished after-step forgets it again.
    async fn handle(
        &self,
        ctx: &TriggerCtx<S3Trigger>,
        seen: &mut Seen,
        action: Action,
        object: &ObjectInfo,
    ) -> Result<(), TriggerError> {
        let ty = match action {
            Action::Created => Some(S3_OBJECT_CREATED),
            Action::Updated => Some(S3_OBJECT_UPDATED),
            Action::Pending => None,
        };
        if let Some(ty) = ty {
            // LastModified too: a re-upload of identical content (same ETag) after the first
            // was moved or deleted is a new drop, not a duplicate of the first event.
            let modified = object.modified.as_deref().unwrap_or_default();
            let id = ctx.event_id(&[&object.key, &object.etag, modified]);
            let data = json!({
                "bucket": self.config.bucket,
                "key": object.key,
                "size": object.size,
                "etag": object.etag,
                "modified": object.modified,
            });
            ctx.publish(&id, ty, Some(&object.key), data).await?;
            tracing::debug!(workflow = %ctx.workflow, key = %object.key, etag = %object.etag, %ty, "S3 object event stored");
        }
        seen.objects.insert(object.key.clone(), object.etag.clone());
        if self.after == AfterStep::Keep {
            return Ok(());
        }
        match self.after(object).await.map_err(TriggerError::source)? {
            Outcome::Done | Outcome::Gone => {
                seen.objects.remove(&object.key);
            }
            // The published ETag stays; the object's new version fires as `updated`.
            Outcome::Changed => tracing::info!(workflow = %ctx.workflow, key = %object.key,
                "object written again before its after-step; its new version fires next"),
        }
        Ok(())
    }

    /// The `after:` step for one published object.
    async fn after(&self, object: &ObjectInfo) -> Result<Outcome, S3Error> {
        let (key, etag) = (object.key.as_str(), object.etag.as_str());
        match &self.after {
            AfterStep::Keep => Ok(Outcome::Done),
            AfterStep::Delete => self.bucket.delete(key, etag).await,
            AfterStep::Move(folder) => {
                let destination = keys::move_destination(&self.prefix, folder, key);
                match self.bucket.copy(key, etag, &destination).await? {
                    Outcome::Done => self.bucket.delete(key, etag).await,
                    other => Ok(other),
                }
            }
        }
    }
}

/// Saves what was seen, then the cursor naming it.
async fn save(
    ctx: &TriggerCtx<S3Trigger>,
    store: &SeenStore,
    seen: &Seen,
) -> Result<(), TriggerError> {
    let cursor = store.save(seen).await?;
    ctx.save_cursor(&cursor).await
}
