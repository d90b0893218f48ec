//! Reading the watched folder: a full listing (the scan at start, after the folder came back,
//! after an inotify queue overflow) and single-file stats.
//!
//! Consumes the file system (read-only); produces relative path → [`Stamp`] for the files the
//! [`Filter`] wants. Blocking: call through `tokio::task::spawn_blocking`. Symbolic links to
//! files count as the file they point to; links to folders are not followed (no loops).
//! Names that are not UTF-8 are skipped with a warning.

use std::{
    collections::BTreeMap,
    fs::Metadata,
    io,
    path::{Component, Path},
    time::UNIX_EPOCH,
};

use crate::{filter::Filter, listing::Stamp};

/// The stamp of a file's metadata.
pub fn stamp_of(meta: &Metadata) -> Stamp {
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    Stamp {
        size: meta.len(),
        mtime_ns,
    }
}

/// The stamp of the regular file at `path` (following links); `None` when there is none.
pub fn stat(path: &Path) -> io::Result<Option<Stamp>> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(Some(stamp_of(&meta))),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// `path` relative to `root`, `/`-separated; `None` for `root` itself, paths outside it and
/// names that are not UTF-8.
pub fn relative(root: &Path, path: &Path) -> Option<String> {
    let rest = path.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for c in rest.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Every wanted file under `root` (`root` itself must be a readable folder). `under` limits the
/// scan to one sub-folder (relative), e.g. one that was just created or moved in.
pub fn scan(
    root: &Path,
    filter: &Filter,
    under: Option<&str>,
) -> io::Result<BTreeMap<String, Stamp>> {
    let mut out = BTreeMap::new();
    let start = under.map_or_else(|| root.to_path_buf(), |rel| root.join(rel));
    let mut stack = vec![start];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            // A sub-folder removed while we walk: its files are simply not there.
            Err(e) if dir != root && e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let Some(rel) = relative(root, &path) else {
                tracing::warn!(path = %path.display(), "skipping a name that is not UTF-8");
                continue;
            };
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if filter.descends(&rel) {
                    stack.push(path);
                }
            } else if filter.wants(&rel)
                && let Some(stamp) = stat(&path)?
            {
                out.insert(rel, stamp);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_lists_wanted_files_with_their_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub/deeper")).expect("mkdir");
        std::fs::create_dir_all(root.join(".hidden")).expect("mkdir");
        for (name, body) in [
            ("a.csv", "1,2\n"),
            ("b.tmp", "x"),
            ("sub/c.csv", "abc"),
            ("sub/deeper/d.csv", ""),
            (".hidden/e.csv", "x"),
        ] {
            std::fs::write(root.join(name), body).expect("write");
        }
        let flat = scan(root, &Filter::new(None, false).expect("f"), None).expect("scan");
        assert_eq!(flat.keys().collect::<Vec<_>>(), ["a.csv"]);
        assert_eq!(flat["a.csv"].size, 4);
        let deep = scan(root, &Filter::new(Some("*.csv"), true).expect("f"), None).expect("scan");
        assert_eq!(
            deep.keys().collect::<Vec<_>>(),
            ["a.csv", "sub/c.csv", "sub/deeper/d.csv"]
        );
        let part = scan(
            root,
            &Filter::new(None, true).expect("f"),
            Some("sub/deeper"),
        )
        .expect("scan");
        assert_eq!(part.keys().collect::<Vec<_>>(), ["sub/deeper/d.csv"]);
    }

    #[test]
    fn a_missing_root_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let gone = dir.path().join("nope");
        assert!(scan(&gone, &Filter::new(None, false).expect("f"), None).is_err());
    }

    #[test]
    fn relative_paths() {
        let root = Path::new("/data/in");
        assert_eq!(
            relative(root, Path::new("/data/in/a/b.csv")).as_deref(),
            Some("a/b.csv")
        );
        assert_eq!(relative(root, Path::new("/data/in")), None);
        assert_eq!(relative(root, Path::new("/data/out/x")), None);
    }
}
