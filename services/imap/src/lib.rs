//! The IMAP mail trigger (work in progress).
