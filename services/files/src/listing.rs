//! The listing state of a watched folder: relative path → size + modification time of every
//! file whose event was published, and its compact form saved as the trigger's cursor.
//!
//! Consumes stat results and a decoded cursor; produces the diff of a fresh scan against the
//! listing and the cursor to save. No I/O.
//!
//! ## Saved form
//!
//! The listing is saved as one object in the JetStream object store (see [`crate::store`]),
//! so its size is not bounded by a NATS message: three columns (paths sorted, sizes,
//! modification times in ns) as JSON, deflated. Paths compress well, sizes and nanosecond
//! times hardly at all: a file costs about 14 bytes (40 000 files with random sizes and times:
//! about 570 KB, measured by a test below). The listing is held in memory while the trigger
//! runs (about 100 bytes a file) and re-written at most every few seconds while files change,
//! so folders up to a few hundred thousand files are practical; larger ones should be split
//! over several triggers or use `after: move|delete`, which keeps the folder small. No content
//! hash is stored.

use std::{collections::BTreeMap, io::Read as _};

use flate2::{Compression, read::DeflateDecoder, write::DeflateEncoder};
use serde::{Deserialize, Serialize};

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

/// The listing as three parallel arrays (compresses better than rows).
#[derive(Serialize, Deserialize)]
struct Columns<P> {
    paths: Vec<P>,
    sizes: Vec<u64>,
    mtimes: Vec<i64>,
}

/// A saved listing that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("unreadable file listing: {0}")]
pub struct CorruptListing(String);

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

    /// The saved form: deflated JSON columns.
    pub fn encode(&self) -> Vec<u8> {
        let columns = Columns {
            paths: self.files.keys().map(String::as_str).collect(),
            sizes: self.files.values().map(|s| s.size).collect(),
            mtimes: self.files.values().map(|s| s.mtime_ns).collect(),
        };
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
        // Writing JSON of strings and integers into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut enc, &columns);
        enc.finish().unwrap_or_default()
    }

    /// Read the saved form.
    pub fn decode(bytes: &[u8]) -> Result<Self, CorruptListing> {
        let corrupt = |e: &dyn std::fmt::Display| CorruptListing(e.to_string());
        let mut json = Vec::new();
        DeflateDecoder::new(bytes)
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
    fn encoding_round_trips_odd_names() {
        let mut listing = Listing::default();
        listing.insert("tab\tand\nnewline \"quoted\".csv", stamp(7, -1));
        listing.insert("ünïcode/файл.txt", stamp(u64::MAX, i64::MAX));
        assert_eq!(
            Listing::decode(&listing.encode()).expect("decodes"),
            listing
        );
        let empty = Listing::default();
        assert_eq!(Listing::decode(&empty.encode()).expect("decodes"), empty);
    }

    #[test]
    fn forty_thousand_typical_names_are_compact() {
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
        let bytes = listing.encode();
        assert!(bytes.len() < 600_000, "{} bytes", bytes.len());
        assert_eq!(Listing::decode(&bytes).expect("decodes").len(), 40_000);
    }

    #[test]
    fn a_corrupt_listing_is_an_error() {
        assert!(Listing::decode(b"not deflate").is_err());
    }
}
