//! The listing state of a watched folder: relative path → size + modification time of every
//! file whose event was published, and its compact form saved as the trigger's cursor.
//!
//! Consumes stat results and a decoded cursor; produces the diff of a fresh scan against the
//! listing and the cursor to save. No I/O.
//!
//! ## Cursor size
//!
//! The cursor is one value in the JetStream KV bucket `weft_cursors`, which must fit in one NATS
//! message (`max_payload`, 1 MiB by default). The entries are encoded as three columns
//! (paths sorted, sizes, modification times in ns), deflated and base64-encoded. Paths compress
//! well; sizes and nanosecond times hardly at all, so a file costs about 19 bytes: 40 000 files
//! with random sizes and times encode to about 760 KB (measured by a test below). Past
//! [`MAX_CURSOR_BYTES`] (about 45 000 such files) the cursor is not saved and the trigger's
//! health says so; live events keep flowing, and after a restart the scan compares against the
//! last cursor that fitted. Larger folders: split them over several triggers (`glob`, or one
//! per sub-folder) or use `after: move|delete`, which keeps the folder (and the cursor) small.
//! Re-published events keep their ids, so that never doubles an execution. No content hash
//! is stored.

use std::{collections::BTreeMap, io::Read as _, io::Write as _};

use base64::Engine as _;
use flate2::{Compression, read::DeflateDecoder, write::DeflateEncoder};
use serde::{Deserialize, Serialize};

/// Largest encoded cursor the service saves (leaves room under NATS' default 1 MiB payload).
pub const MAX_CURSOR_BYTES: usize = 900 * 1024;

/// Size and modification time of a file: what tells a change apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Length in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
}

/// What a scan found different from the listing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Not in the listing.
    pub new: Vec<(String, Stamp)>,
    /// In the listing with another stamp.
    pub changed: Vec<(String, Stamp)>,
    /// In the listing, not on disk any more (with the stamp last published).
    pub vanished: Vec<(String, Stamp)>,
}

/// The known files of one watched folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    files: BTreeMap<String, Stamp>,
}

/// The saved form of a [`Listing`] (the trigger's cursor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// Format version (1).
    pub v: u32,
    /// Number of entries.
    pub n: usize,
    /// base64(deflate(JSON `{"paths": […], "sizes": […], "mtimes": […]}`)), sorted by path.
    pub z: String,
}

/// The listing as three parallel arrays (compresses better than rows).
#[derive(Serialize, Deserialize)]
struct Columns<P> {
    paths: Vec<P>,
    sizes: Vec<u64>,
    mtimes: Vec<i64>,
}

/// Why a cursor could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CursorError {
    /// The saved value is not a cursor this version understands.
    #[error("unreadable file-listing cursor: {0}")]
    Corrupt(String),
    /// Too many files to save in one KV value.
    #[error(
        "the listing of {files} files encodes to {bytes} bytes, over the {MAX_CURSOR_BYTES}-byte \
         cursor limit; restart catch-up compares against the last cursor that fitted"
    )]
    TooLarge {
        /// Files in the listing.
        files: usize,
        /// Encoded size.
        bytes: usize,
    },
}

impl Listing {
    /// The stamp recorded for `rel`.
    pub fn get(&self, rel: &str) -> Option<Stamp> {
        self.files.get(rel).copied()
    }

    /// Record `rel`; true when that changed the listing.
    pub fn insert(&mut self, rel: &str, stamp: Stamp) -> bool {
        self.files.insert(rel.to_string(), stamp) != Some(stamp)
    }

    /// Forget `rel`; the stamp it had.
    pub fn remove(&mut self, rel: &str) -> Option<Stamp> {
        self.files.remove(rel)
    }

    /// Every entry at `rel` or under the folder `rel/`.
    pub fn under(&self, rel: &str) -> Vec<(String, Stamp)> {
        // Keys under `rel/` sort between `rel/` and `rel0` ('0' follows '/').
        let inside = self.files.range(format!("{rel}/")..format!("{rel}0"));
        self.files
            .get_key_value(rel)
            .into_iter()
            .chain(inside)
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// No files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Compare a complete scan (relative path → stamp) with the listing.
    pub fn diff(&self, scan: &BTreeMap<String, Stamp>) -> Diff {
        let mut diff = Diff::default();
        for (rel, stamp) in scan {
            match self.files.get(rel) {
                None => diff.new.push((rel.clone(), *stamp)),
                Some(old) if old != stamp => diff.changed.push((rel.clone(), *stamp)),
                Some(_) => {}
            }
        }
        for (rel, stamp) in &self.files {
            if !scan.contains_key(rel) {
                diff.vanished.push((rel.clone(), *stamp));
            }
        }
        diff
    }

    /// Encode as a cursor, refusing one over [`MAX_CURSOR_BYTES`].
    pub fn to_cursor(&self) -> Result<Cursor, CursorError> {
        let columns = Columns {
            paths: self.files.keys().map(String::as_str).collect(),
            sizes: self.files.values().map(|s| s.size).collect(),
            mtimes: self.files.values().map(|s| s.mtime_ns).collect(),
        };
        let json = serde_json::to_vec(&columns).map_err(|e| CursorError::Corrupt(e.to_string()))?;
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
        let deflated = enc
            .write_all(&json)
            .and_then(|()| enc.finish())
            .map_err(|e| CursorError::Corrupt(e.to_string()))?;
        let z = base64::engine::general_purpose::STANDARD.encode(deflated);
        if z.len() > MAX_CURSOR_BYTES {
            return Err(CursorError::TooLarge {
                files: self.files.len(),
                bytes: z.len(),
            });
        }
        Ok(Cursor {
            v: 1,
            n: self.files.len(),
            z,
        })
    }

    /// Decode a saved cursor.
    pub fn from_cursor(cursor: &Cursor) -> Result<Self, CursorError> {
        let corrupt = |e: &dyn std::fmt::Display| CursorError::Corrupt(e.to_string());
        if cursor.v != 1 {
            return Err(corrupt(&format!("version {}", cursor.v)));
        }
        let deflated = base64::engine::general_purpose::STANDARD
            .decode(&cursor.z)
            .map_err(|e| corrupt(&e))?;
        let mut json = Vec::new();
        DeflateDecoder::new(deflated.as_slice())
            .read_to_end(&mut json)
            .map_err(|e| corrupt(&e))?;
        let columns: Columns<String> = serde_json::from_slice(&json).map_err(|e| corrupt(&e))?;
        let n = columns.paths.len();
        if columns.sizes.len() != n || columns.mtimes.len() != n {
            return Err(corrupt(&"columns of different lengths"));
        }
        let files = columns
            .paths
            .into_iter()
            .zip(columns.sizes.into_iter().zip(columns.mtimes))
            .map(|(k, (size, mtime_ns))| (k, Stamp { size, mtime_ns }))
            .collect();
        Ok(Self { files })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(size: u64, mtime_ns: i64) -> Stamp {
        Stamp { size, mtime_ns }
    }

    #[test]
    fn diff_names_new_changed_and_vanished() {
        let mut listing = Listing::default();
        listing.insert("same", stamp(1, 1));
        listing.insert("grown", stamp(1, 1));
        listing.insert("gone", stamp(3, 3));
        let scan: BTreeMap<_, _> = [
            ("same".to_string(), stamp(1, 1)),
            ("grown".to_string(), stamp(2, 2)),
            ("fresh".to_string(), stamp(5, 5)),
        ]
        .into();
        let diff = listing.diff(&scan);
        assert_eq!(diff.new, vec![("fresh".to_string(), stamp(5, 5))]);
        assert_eq!(diff.changed, vec![("grown".to_string(), stamp(2, 2))]);
        assert_eq!(diff.vanished, vec![("gone".to_string(), stamp(3, 3))]);
    }

    #[test]
    fn under_finds_a_folder_and_not_its_namesakes() {
        let mut listing = Listing::default();
        for k in ["a", "a/x", "a/y/z", "a-b", "ab"] {
            listing.insert(k, stamp(0, 0));
        }
        let found: Vec<_> = listing.under("a").into_iter().map(|(k, _)| k).collect();
        assert_eq!(found, ["a", "a/x", "a/y/z"]);
    }

    #[test]
    fn cursor_round_trips_odd_names() {
        let mut listing = Listing::default();
        listing.insert("tab\tand\nnewline \"quoted\".csv", stamp(7, -1));
        listing.insert("ünïcode/файл.txt", stamp(u64::MAX, i64::MAX));
        let cursor = listing.to_cursor().expect("encodes");
        assert_eq!(cursor.n, 2);
        let json = serde_json::to_string(&cursor).expect("json");
        let back: Cursor = serde_json::from_str(&json).expect("parses");
        assert_eq!(Listing::from_cursor(&back).expect("decodes"), listing);
    }

    #[test]
    fn forty_thousand_typical_names_fit() {
        let mut listing = Listing::default();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..40_000u64 {
            // xorshift: sizes and nanoseconds as random as real ones.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let rel = format!("2026/{:02}/invoice-{i:06}.csv", i % 12 + 1);
            let mtime = 1_780_000_000_000_000_000
                + (i as i64) * 60_000_000_000
                + (x % 1_000_000_000) as i64;
            listing.insert(&rel, stamp(x % 5_000_000, mtime));
        }
        let cursor = listing.to_cursor().expect("fits");
        assert!(
            cursor.z.len() < MAX_CURSOR_BYTES,
            "{} bytes",
            cursor.z.len()
        );
        eprintln!("40k files: {} bytes", cursor.z.len());
    }

    #[test]
    fn a_corrupt_cursor_is_an_error() {
        let bad = Cursor {
            v: 1,
            n: 1,
            z: "not base64!".into(),
        };
        assert!(matches!(
            Listing::from_cursor(&bad),
            Err(CursorError::Corrupt(_))
        ));
    }
}
