//! [`Cursor`]: how far a trigger has read a mailbox, kept in the `weft_cursors` bucket.
//!
//! It holds the mailbox's UIDVALIDITY, the highest UID whose event is on the bus, and the
//! Message-IDs of the most recent messages (at most [`RECENT_IDS`]), so a message that comes
//! back with a new UID (moved out and back, or a recreated mailbox) is not announced twice.
//! [`Cursor::resume`] decides where a session starts; it does no I/O.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use weft_flow::triggers::EmailSince;

/// How many recent Message-IDs are remembered.
pub const RECENT_IDS: usize = 1000;

/// Read position in one mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// UIDVALIDITY of the mailbox the UIDs belong to.
    pub uidvalidity: u32,
    /// Every message with a UID up to this one has been handled.
    pub last_uid: u32,
    /// Message-IDs of recently handled messages, oldest first.
    #[serde(default)]
    pub recent: VecDeque<String>,
}

/// Where a session starts and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// The saved cursor is valid: continue after its UID.
    Continue,
    /// No cursor yet: start per `since`.
    Fresh,
    /// The mailbox's UIDVALIDITY changed (it was recreated): start per `since`, keeping the
    /// recent Message-IDs to skip messages already announced.
    Reset {
        /// The UIDVALIDITY the cursor had.
        previous: u32,
    },
}

impl Cursor {
    /// The cursor to use for a mailbox with `uidvalidity` whose next UID is `uid_next`.
    pub fn resume(
        saved: Option<Cursor>,
        uidvalidity: u32,
        uid_next: u32,
        since: EmailSince,
    ) -> (Cursor, Resume) {
        let start = match since {
            EmailSince::Now => uid_next.saturating_sub(1),
            EmailSince::All => 0,
        };
        match saved {
            Some(c) if c.uidvalidity == uidvalidity => (c, Resume::Continue),
            Some(c) => (
                Cursor {
                    uidvalidity,
                    last_uid: start,
                    recent: c.recent,
                },
                Resume::Reset {
                    previous: c.uidvalidity,
                },
            ),
            None => (
                Cursor {
                    uidvalidity,
                    last_uid: start,
                    recent: VecDeque::new(),
                },
                Resume::Fresh,
            ),
        }
    }

    /// True when a message with this Message-ID was handled recently.
    pub fn seen(&self, message_id: &str) -> bool {
        self.recent.iter().any(|m| m == message_id)
    }

    /// Record that `uid` (with its Message-ID, if any) was handled.
    pub fn advance(&mut self, uid: u32, message_id: Option<&str>) {
        self.last_uid = self.last_uid.max(uid);
        if let Some(id) = message_id
            && !self.seen(id)
        {
            self.recent.push_back(id.to_string());
            while self.recent.len() > RECENT_IDS {
                self.recent.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_cursor_starts_per_since() {
        let (now, why) = Cursor::resume(None, 7, 11, EmailSince::Now);
        assert_eq!((now.uidvalidity, now.last_uid, why), (7, 10, Resume::Fresh));
        let (all, _) = Cursor::resume(None, 7, 11, EmailSince::All);
        assert_eq!(all.last_uid, 0);
        let (empty, _) = Cursor::resume(None, 7, 1, EmailSince::Now);
        assert_eq!(empty.last_uid, 0);
    }

    #[test]
    fn saved_cursor_continues_unless_uidvalidity_changed() {
        let mut saved = Cursor {
            uidvalidity: 7,
            last_uid: 3,
            recent: VecDeque::new(),
        };
        saved.advance(4, Some("a@x"));
        let (same, why) = Cursor::resume(Some(saved.clone()), 7, 50, EmailSince::Now);
        assert_eq!((same.last_uid, why), (4, Resume::Continue));
        let (reset, why) = Cursor::resume(Some(saved), 9, 3, EmailSince::All);
        assert_eq!(why, Resume::Reset { previous: 7 });
        assert_eq!((reset.uidvalidity, reset.last_uid), (9, 0));
        assert!(reset.seen("a@x"), "recent ids survive a reset");
    }

    #[test]
    fn recent_ids_are_bounded_and_unique() {
        let mut c = Cursor::default();
        for i in 0..(RECENT_IDS as u32 + 5) {
            c.advance(i + 1, Some(&format!("m{i}")));
        }
        c.advance(2000, Some("m10"));
        c.advance(2001, None);
        assert_eq!(c.recent.len(), RECENT_IDS);
        assert!(!c.seen("m0") && c.seen("m10"));
        assert_eq!(c.last_uid, 2001);
        c.advance(5, None);
        assert_eq!(c.last_uid, 2001, "never goes back");
    }
}
