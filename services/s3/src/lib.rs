//! `on.s3`: a trigger source that polls an S3 bucket (AWS or any S3-compatible server) and
//! publishes one CloudEvent per new or changed object.
//!
//! Consumes the `on.s3` blocks of the applied workflows (through the shared trigger runtime),
//! reads the bucket's listing (ListObjectsV2, every page, under `prefix`) every
//! `poll_interval`, and produces `dev.weft.s3.object.created` (a key not seen before) and
//! `dev.weft.s3.object.updated` (a known key with a new ETag) on `weft.events.s3`, with data
//! `{bucket, key, size, etag, modified}` and the event id derived from (workflow, scope, key,
//! ETag, LastModified). Touches the bucket only for `after: move|delete`, after the event's
//! JetStream ack.
//! Keeps what it has [`Seen`] (key → ETag) in the `weft_s3_listings` object store and a small
//! [`S3Cursor`] naming it in `weft_cursors`.
//!
//! A new trigger fires for every object already under the prefix (the drop-folder
//! semantics Kestra users know; with `after: move|delete` they are then processed and
//! cleared out).
//!
//! Also offers [`s3_client`], the S3 client (ring TLS, static credentials, path-style for
//! custom endpoints) for anything else in Weft that talks to S3.

/// The AWS SDK this crate builds on, for users of [`s3_client`].
pub use aws_sdk_s3;

mod artifacts;
mod bucket;
mod client;
mod cursor;
mod error;
mod keys;
mod source;
mod store;

pub use artifacts::S3Artifacts;
pub use bucket::{Bucket, ObjectInfo, Outcome};
pub use client::{S3Settings, s3_client};
pub use cursor::{Action, Seen, plan};
pub use error::{S3Error, Target};
pub use keys::move_destination;
pub use source::{S3Source, scope};
pub use store::{S3Cursor, SeenStore};
