//! Commands on the selected mailbox: open it, list UIDs above the cursor, fetch one message
//! without marking it seen, and the `after:` actions (flag `\Seen`, move, delete).
//!
//! Consumes a logged-in [`Session`]; touches the IMAP server only. Every command runs under
//! the deadline of [`within`].

use std::time::Duration;

use futures::TryStreamExt as _;
use weft_flow::triggers::{EmailAfter, EmailTrigger};

use crate::connect::{Capabilities, Session, within, within_for};
use crate::error::ImapError;

/// Deadline for fetching one message (it may be large).
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

/// The selected mailbox's identity and next UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// The UID the next message will get.
    pub uid_next: u32,
}

/// `SELECT` the mailbox (read-write: `after:` changes it).
pub async fn select(session: &mut Session, mailbox: &str) -> Result<Selected, ImapError> {
    let selected = match within(&format!("SELECT {mailbox}"), session.select(mailbox)).await {
        Ok(m) => m,
        Err(ImapError::Command {
            source: async_imap::error::Error::No(message),
            ..
        }) => {
            return Err(ImapError::Mailbox {
                mailbox: mailbox.into(),
                message,
            });
        }
        Err(e) => return Err(e),
    };
    let uidvalidity = selected
        .uid_validity
        .ok_or_else(|| ImapError::Protocol(format!("SELECT {mailbox} gave no UIDVALIDITY")))?;
    let uid_next = match selected.uid_next {
        Some(next) => next,
        // Servers may leave UIDNEXT out; the highest UID present + 1 is the same for us.
        None => highest_uid(session).await?.map_or(1, |u| u + 1),
    };
    Ok(Selected {
        uidvalidity,
        uid_next,
    })
}

async fn highest_uid(session: &mut Session) -> Result<Option<u32>, ImapError> {
    let uids = within("UID SEARCH ALL", session.uid_search("ALL")).await?;
    Ok(uids.into_iter().max())
}

/// UIDs above `last_uid`, ascending. (`n:*` also matches the highest UID when it is below
/// `n`, so that one is filtered out.)
pub async fn uids_after(session: &mut Session, last_uid: u32) -> Result<Vec<u32>, ImapError> {
    let from = last_uid.saturating_add(1);
    let query = format!("UID {from}:*");
    let found = within(&format!("UID SEARCH {query}"), session.uid_search(&query)).await?;
    let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > last_uid).collect();
    uids.sort_unstable();
    Ok(uids)
}

/// The raw bytes of message `uid`, fetched with `BODY.PEEK[]` (leaves `\Seen` alone);
/// `None` when it was expunged meanwhile.
pub async fn fetch(session: &mut Session, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
    let command = format!("UID FETCH {uid}");
    within_for(&command, FETCH_TIMEOUT, async {
        let fetches: Vec<_> = session
            .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
            .await?
            .try_collect()
            .await?;
        Ok(fetches
            .into_iter()
            .find(|f| f.uid == Some(uid))
            .and_then(|f| f.body().map(<[u8]>::to_vec)))
    })
    .await
}

/// Create `move_to` for `after: move`; a failure (usually: it exists) is left for the move
/// itself to report.
pub async fn prepare(session: &mut Session, config: &EmailTrigger) -> Result<(), ImapError> {
    if let (EmailAfter::Move, Some(target)) = (config.after, config.move_to.as_deref())
        && let Err(e) = within(&format!("CREATE {target}"), session.create(target)).await
    {
        match e {
            ImapError::Command {
                source: async_imap::error::Error::No(_),
                ..
            } => tracing::debug!(mailbox = target, "move_to exists"),
            other => return Err(other),
        }
    }
    Ok(())
}

/// Apply `after:` to message `uid` (its event is already on the bus).
pub async fn after(
    session: &mut Session,
    caps: Capabilities,
    config: &EmailTrigger,
    uid: u32,
) -> Result<(), ImapError> {
    let set = uid.to_string();
    match config.after {
        EmailAfter::None => Ok(()),
        EmailAfter::Seen => store_flag(session, &set, "\\Seen").await,
        EmailAfter::Delete => {
            store_flag(session, &set, "\\Deleted").await?;
            expunge(session, caps, &set).await
        }
        EmailAfter::Move => {
            let target = config.move_to.as_deref().unwrap_or_default();
            if caps.moves {
                return within(
                    &format!("UID MOVE {set} {target}"),
                    session.uid_mv(&set, target),
                )
                .await;
            }
            within(
                &format!("UID COPY {set} {target}"),
                session.uid_copy(&set, target),
            )
            .await?;
            store_flag(session, &set, "\\Deleted").await?;
            expunge(session, caps, &set).await
        }
    }
}

async fn store_flag(session: &mut Session, set: &str, flag: &str) -> Result<(), ImapError> {
    let query = format!("+FLAGS.SILENT ({flag})");
    within(&format!("UID STORE {set} {query}"), async {
        session
            .uid_store(set, &query)
            .await?
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    })
    .await
}

async fn expunge(session: &mut Session, caps: Capabilities, set: &str) -> Result<(), ImapError> {
    if caps.uidplus {
        within(&format!("UID EXPUNGE {set}"), async {
            session
                .uid_expunge(set)
                .await?
                .try_collect::<Vec<_>>()
                .await?;
            Ok(())
        })
        .await
    } else {
        within("EXPUNGE", async {
            session.expunge().await?.try_collect::<Vec<_>>().await?;
            Ok(())
        })
        .await
    }
}
