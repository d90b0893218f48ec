//! The local-folder trigger (`on.file`), run by `weft serve files` and `weft dev`.
//!
//! Consumes the applied workflows' `on.file` blocks (live, through the shared trigger runtime
//! `weft-trigger`) and the watched folders (inotify through `notify`, plus scans); produces
//! `dev.weft.file.created|modified|deleted` CloudEvents on `weft.events.file` with data
//! `{path, name, size, sha256, modified}` (and `moved_to` with `after: move`), each stored by
//! JetStream before the file is moved or deleted. Touches NATS (events, cursor, the listing in
//! the object store `weft_file_listings`) and the watched folders.
//!
//! A file fires once it is complete: closed after writing, renamed into the folder, or quiet
//! (size and mtime unchanged) for `settle`. A scan at start (and whenever the folder comes
//! back) compares the folder with the saved listing, so files that came, changed or went while
//! the service was down fire exactly once. Event ids derive from (kind, path, size, mtime), so a
//! re-publish after a crash is dropped as a duplicate.
//!
//! ```text
//! let service = weft_trigger::TriggerService::new(weft_files::FileSource, weft_trigger::TriggerDeps::without_secrets(bus));
//! tokio::spawn(service.run(shutdown));
//! ```

mod act;
pub mod after;
pub mod data;
pub mod filter;
pub mod folder;
pub mod listing;
pub mod scan;
mod source;
pub mod store;
pub mod watch;

pub use source::FileSource;
