//! One trigger instance's session: connect, open the mailbox, pick up the cursor, announce
//! every message above it, then wait for more (IDLE or polling) until shutdown.
//!
//! Consumes the instance's [`TriggerCtx`] (config, cursor, shutdown); produces one
//! `dev.weft.email.received` event per new message (id = `event_id(uidvalidity, uid)`), saves
//! the cursor after each publish, then applies `after:`. Touches the IMAP server, the artifact
//! store (attachments) and, through the context, NATS. Any failure ends the session with an
//! error; the runtime reconnects with backoff.

use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::types::UnsolicitedResponse;
use weft_events::types::EMAIL_RECEIVED;
use weft_executor::Artifacts;
use weft_flow::triggers::{EmailMode, EmailTrigger};
use weft_trigger::{TriggerCtx, TriggerError};

use crate::connect::{self, Capabilities, Session, within};
use crate::cursor::{Cursor, Resume};
use crate::error::ImapError;
use crate::{mailbox, message};

/// The longest single IDLE (servers may drop an IDLE after 30 minutes; RFC 2177 says re-issue
/// it at least every 29).
pub const MAX_IDLE: Duration = Duration::from_secs(25 * 60);

/// Run one session until shutdown (`Ok`) or a failure (`Err`).
pub async fn run(ctx: &TriggerCtx<EmailTrigger>, store: &Artifacts) -> Result<(), TriggerError> {
    let config = &ctx.config;
    let (mut session, caps) = connect::open(config).await.map_err(TriggerError::source)?;
    let selected = mailbox::select(&mut session, &config.mailbox)
        .await
        .map_err(TriggerError::source)?;
    mailbox::prepare(&mut session, config)
        .await
        .map_err(TriggerError::source)?;
    let mut cursor = start_cursor(ctx, selected).await?;
    let idle = wants_idle(config, caps);
    ctx.healthy();
    tracing::info!(workflow = %ctx.workflow, mailbox = %config.mailbox, idle,
        last_uid = cursor.last_uid, "watching mailbox");
    loop {
        drain(ctx, store, &mut session, caps, &mut cursor).await?;
        if ctx.shutdown.is_triggered() {
            break;
        }
        session = if idle {
            idle_once(ctx, session).await?
        } else {
            poll_once(ctx, session).await?
        };
        if ctx.shutdown.is_triggered() {
            break;
        }
    }
    let _ = within("LOGOUT", session.logout()).await;
    Ok(())
}

/// IDLE unless `mode: poll` or the server cannot.
fn wants_idle(config: &EmailTrigger, caps: Capabilities) -> bool {
    match config.mode {
        Some(EmailMode::Poll) => false,
        Some(EmailMode::Idle) if !caps.idle => {
            tracing::warn!(host = %config.host, "mode: idle, but the server has no IDLE; polling");
            false
        }
        _ => caps.idle,
    }
}

/// The saved cursor, or a new one per `since`; saved at once when new, so mail that arrives
/// while the trigger is stopped is still found later.
async fn start_cursor(
    ctx: &TriggerCtx<EmailTrigger>,
    selected: mailbox::Selected,
) -> Result<Cursor, TriggerError> {
    let saved: Option<Cursor> = ctx.cursor().await?;
    let (cursor, why) = Cursor::resume(
        saved,
        selected.uidvalidity,
        selected.uid_next,
        ctx.config.since,
    );
    match why {
        Resume::Continue => return Ok(cursor),
        Resume::Fresh => {}
        Resume::Reset { previous } => tracing::warn!(
            workflow = %ctx.workflow, mailbox = %ctx.config.mailbox, previous,
            current = selected.uidvalidity,
            "UIDVALIDITY changed (mailbox recreated): reading it afresh, skipping Message-IDs already announced"
        ),
    }
    ctx.save_cursor(&cursor).await?;
    Ok(cursor)
}

/// Announce every message above the cursor, in UID order.
async fn drain(
    ctx: &TriggerCtx<EmailTrigger>,
    store: &Artifacts,
    session: &mut Session,
    caps: Capabilities,
    cursor: &mut Cursor,
) -> Result<(), TriggerError> {
    let uids = mailbox::uids_after(session, cursor.last_uid)
        .await
        .map_err(TriggerError::source)?;
    for uid in uids {
        if ctx.shutdown.is_triggered() {
            break;
        }
        handle(ctx, store, session, caps, cursor, uid).await?;
    }
    Ok(())
}

/// Publish one message, advance and save the cursor, then apply `after:`.
async fn handle(
    ctx: &TriggerCtx<EmailTrigger>,
    store: &Artifacts,
    session: &mut Session,
    caps: Capabilities,
    cursor: &mut Cursor,
    uid: u32,
) -> Result<(), TriggerError> {
    let Some(raw) = mailbox::fetch(session, uid)
        .await
        .map_err(TriggerError::source)?
    else {
        // Expunged between SEARCH and FETCH: nothing to announce.
        cursor.advance(uid, None);
        return ctx.save_cursor(cursor).await;
    };
    let message_id = message::message_id(&raw);
    if let Some(id) = message_id.as_deref().filter(|id| cursor.seen(id)) {
        tracing::info!(workflow = %ctx.workflow, uid, message_id = id,
            "message already announced (same Message-ID, new UID): skipped");
    } else {
        publish(ctx, store, cursor.uidvalidity, uid, &raw).await?;
    }
    cursor.advance(uid, message_id.as_deref());
    ctx.save_cursor(cursor).await?;
    mailbox::after(session, caps, &ctx.config, uid)
        .await
        .map_err(TriggerError::source)
}

async fn publish(
    ctx: &TriggerCtx<EmailTrigger>,
    store: &Artifacts,
    uidvalidity: u32,
    uid: u32,
    raw: &[u8],
) -> Result<(), TriggerError> {
    let data = message::to_event_data(raw, store)
        .await
        .map_err(|e| TriggerError::source(format!("message UID {uid}: {e}")))?;
    let subject = data.message_id.clone();
    let data = serde_json::to_value(&data)
        .map_err(|e| TriggerError::source(format!("message UID {uid}: {e}")))?;
    let id = ctx.event_id(&[&uidvalidity.to_string(), &uid.to_string()]);
    ctx.publish(&id, EMAIL_RECEIVED, subject.as_deref(), data)
        .await?;
    tracing::debug!(workflow = %ctx.workflow, uid, event_id = %id, "mail announced");
    Ok(())
}

/// Wait `poll_interval` (or shutdown), then a NOOP to prove the connection lives.
async fn poll_once(
    ctx: &TriggerCtx<EmailTrigger>,
    mut session: Session,
) -> Result<Session, TriggerError> {
    tokio::select! {
        _ = tokio::time::sleep(ctx.config.poll_interval) => {}
        _ = ctx.shutdown.wait() => return Ok(session),
    }
    within("NOOP", session.noop())
        .await
        .map_err(TriggerError::source)?;
    // Polling looks anyway; drop the notices so they do not pile up.
    new_mail_noticed(&session.unsolicited_responses);
    Ok(session)
}

/// One IDLE of at most min(poll_interval, 25 min), ended early by new data or shutdown; then
/// DONE and a NOOP heartbeat. A dropped connection surfaces as an error from DONE or NOOP.
///
/// The server reports new mail once, as an untagged EXISTS, and it may come with the answer to
/// any command (a FETCH, the NOOP, even while IDLE is starting), in which case the client files
/// it among the unsolicited responses. Those are checked before waiting, or that mail would sit
/// unannounced until the IDLE times out.
async fn idle_once(
    ctx: &TriggerCtx<EmailTrigger>,
    session: Session,
) -> Result<Session, TriggerError> {
    let notices = session.unsolicited_responses.clone();
    if new_mail_noticed(&notices) {
        return Ok(session);
    }
    let wait = ctx.config.poll_interval.min(MAX_IDLE);
    let mut idle = session.idle();
    within("IDLE", idle.init())
        .await
        .map_err(TriggerError::source)?;
    if !new_mail_noticed(&notices) {
        let (response, _stop) = idle.wait_with_timeout(wait);
        tokio::select! {
            r = response => match r {
                Ok(IdleResponse::NewData(data)) => {
                    tracing::debug!(workflow = %ctx.workflow, response = ?data.parsed(), "IDLE woke up");
                }
                Ok(IdleResponse::Timeout | IdleResponse::ManualInterrupt) => {}
                Err(e) => return Err(TriggerError::source(ImapError::command("IDLE", e))),
            },
            _ = ctx.shutdown.wait() => {}
        }
    }
    let mut session = within("DONE", idle.done())
        .await
        .map_err(TriggerError::source)?;
    within("NOOP", session.noop())
        .await
        .map_err(TriggerError::source)?;
    Ok(session)
}

/// Empty the unsolicited responses; true when one of them announced new messages.
fn new_mail_noticed(notices: &async_channel::Receiver<UnsolicitedResponse>) -> bool {
    let mut noticed = false;
    while let Ok(notice) = notices.try_recv() {
        noticed |= matches!(
            notice,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        );
    }
    noticed
}
