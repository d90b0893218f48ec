//! The event a fired change becomes: its deterministic id parts, its type and its data
//! `{path, name, size, sha256, modified}` (plus `moved_to` with `after: move`).
//!
//! Consumes a [`Fire`] and the file itself (read once for the SHA-256; blocking, call through
//! `spawn_blocking`); produces JSON. Deleted files are not read: `sha256` is null and `size`
//! and `modified` are the last ones published.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use weft_events::types;
use weft_flow::triggers::FileEventKind;

use crate::folder::Fire;

/// The CloudEvent type of a change.
pub fn event_type(kind: FileEventKind) -> &'static str {
    match kind {
        FileEventKind::Created => types::FILE_CREATED,
        FileEventKind::Modified => types::FILE_MODIFIED,
        FileEventKind::Deleted => types::FILE_DELETED,
    }
}

/// The parts the event id is derived from: kind, relative path, size, mtime (ns). The same
/// complete file always gets the same id, so a re-publish after a crash is a duplicate.
pub fn id_parts(fire: &Fire) -> [String; 4] {
    let kind = match fire.kind {
        FileEventKind::Created => "created",
        FileEventKind::Modified => "modified",
        FileEventKind::Deleted => "deleted",
    };
    [
        kind.to_string(),
        fire.rel.clone(),
        fire.stamp.size.to_string(),
        fire.stamp.mtime_ns.to_string(),
    ]
}

/// The event data of `fire` under `root`.
pub fn data(root: &Path, fire: &Fire, moved_to: Option<&Path>) -> io::Result<Value> {
    let path = root.join(&fire.rel);
    let sha256 = match fire.kind {
        FileEventKind::Deleted => None,
        _ => Some(sha256(&path)?),
    };
    let name = fire.rel.rsplit('/').next().unwrap_or(&fire.rel);
    let modified = DateTime::<Utc>::from_timestamp_nanos(fire.stamp.mtime_ns)
        .to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let mut data = json!({
        "path": path.to_string_lossy(),
        "name": name,
        "size": fire.stamp.size,
        "sha256": sha256,
        "modified": modified,
    });
    if let Some(to) = moved_to {
        data["moved_to"] = Value::String(to.to_string_lossy().into_owned());
    }
    Ok(data)
}

/// Hex SHA-256 of a file's content.
pub fn sha256(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// Where a moved file is reported to go (planned before publishing, so the event can say it).
pub fn planned(move_to: Option<&str>, rel: &str) -> Option<PathBuf> {
    move_to.map(|to| crate::after::destination(Path::new(to), rel))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::Stamp;

    #[test]
    fn data_names_the_file_and_its_digest() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/a.txt"), "abc").expect("write");
        let fire = Fire {
            kind: FileEventKind::Created,
            rel: "sub/a.txt".into(),
            stamp: Stamp {
                size: 3,
                mtime_ns: 1_700_000_000_123_456_789,
            },
            publish: true,
            after: false,
        };
        let d = data(dir.path(), &fire, None).expect("data");
        assert_eq!(d["name"], "a.txt");
        assert_eq!(d["size"], 3);
        assert_eq!(
            d["path"],
            dir.path().join("sub/a.txt").to_string_lossy().as_ref()
        );
        assert_eq!(
            d["sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d["modified"], "2023-11-14T22:13:20.123456789Z");
        assert!(d.get("moved_to").is_none());
        let gone = Fire {
            kind: FileEventKind::Deleted,
            ..fire
        };
        assert_eq!(
            data(dir.path(), &gone, None).expect("data")["sha256"],
            Value::Null
        );
    }
}
