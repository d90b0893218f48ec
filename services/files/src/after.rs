//! `after: move|delete`: what happens to a file once its event is stored on the bus.
//!
//! Consumes a file path; moves it under `move_to` (keeping its path relative to the watched
//! folder, creating folders, never overwriting: a clash gets `name-1.ext`, `name-2.ext`, …) or
//! removes it. Touches the file system. Blocking: call through `spawn_blocking`.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

/// How many clashing names are tried before giving up.
const MAX_CLASHES: u32 = 10_000;

/// Where `rel` would go under `move_to` right now: its own name, or the first free variant.
pub fn destination(move_to: &Path, rel: &str) -> PathBuf {
    (0..MAX_CLASHES)
        .map(|n| candidate(move_to, rel, n))
        .find(|p| !p.exists())
        .unwrap_or_else(|| candidate(move_to, rel, MAX_CLASHES))
}

/// Move `src` to `dest` (or, if that name was taken meanwhile, to the next free variant);
/// returns where it went. Never overwrites. Works across file systems (copy, then remove).
pub fn move_file(src: &Path, dest: &Path) -> io::Result<PathBuf> {
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent)?;
    }
    let (dir, name) = split(dest);
    for n in 0..MAX_CLASHES {
        let target = if n == 0 {
            dest.to_path_buf()
        } else {
            variant(&dir, &name, n)
        };
        // A hard link never replaces an existing name, unlike rename.
        match fs::hard_link(src, &target) {
            Ok(()) => {
                fs::remove_file(src)?;
                return Ok(target);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
            // Another file system, or one without hard links: copy into a new file.
            Err(_) => match copy_new(src, &target) {
                Ok(()) => {
                    fs::remove_file(src)?;
                    return Ok(target);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            },
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{MAX_CLASHES} names taken next to {}", dest.display()),
    ))
}

/// Remove `src`; a file already gone is fine.
pub fn delete_file(src: &Path) -> io::Result<()> {
    match fs::remove_file(src) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn copy_new(src: &Path, target: &Path) -> io::Result<()> {
    let mut from = fs::File::open(src)?;
    let mut to = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(target)?;
    io::copy(&mut from, &mut to)?;
    to.sync_all()
}

fn candidate(move_to: &Path, rel: &str, n: u32) -> PathBuf {
    let dest = move_to.join(rel);
    if n == 0 {
        return dest;
    }
    let (dir, name) = split(&dest);
    variant(&dir, &name, n)
}

fn split(path: &Path) -> (PathBuf, String) {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (dir, name)
}

/// `report.csv` → `report-3.csv`; `README` → `README-3`; `.env` → `.env-3`.
fn variant(dir: &Path, name: &str, n: u32) -> PathBuf {
    match name.rfind('.') {
        Some(dot) if dot > 0 => dir.join(format!("{}-{n}{}", &name[..dot], &name[dot..])),
        _ => dir.join(format!("{name}-{n}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_keep_sub_folders_and_never_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (src, done) = (dir.path().join("in"), dir.path().join("done"));
        fs::create_dir_all(src.join("sub")).expect("mkdir");
        fs::create_dir_all(done.join("sub")).expect("mkdir");
        fs::write(done.join("sub/r.csv"), "old").expect("write");
        fs::write(src.join("sub/r.csv"), "new").expect("write");
        let dest = destination(&done, "sub/r.csv");
        assert_eq!(dest, done.join("sub/r-1.csv"));
        let went = move_file(&src.join("sub/r.csv"), &dest).expect("moved");
        assert_eq!(went, dest);
        assert_eq!(
            fs::read_to_string(done.join("sub/r.csv")).expect("read"),
            "old"
        );
        assert_eq!(fs::read_to_string(&went).expect("read"), "new");
        assert!(!src.join("sub/r.csv").exists());
    }

    #[test]
    fn a_name_taken_after_planning_gets_the_next_variant() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (src, done) = (dir.path().join("a"), dir.path().join("done/x"));
        fs::write(&src, "a").expect("write");
        let dest = destination(done.parent().expect("p"), "x");
        fs::create_dir_all(dest.parent().expect("p")).expect("mkdir");
        fs::write(&dest, "someone else").expect("write");
        let went = move_file(&src, &dest).expect("moved");
        assert_eq!(went, dir.path().join("done/x-1"));
    }

    #[test]
    fn variants_keep_the_extension() {
        let d = Path::new("/d");
        assert_eq!(variant(d, "report.csv", 2), Path::new("/d/report-2.csv"));
        assert_eq!(variant(d, "README", 1), Path::new("/d/README-1"));
        assert_eq!(variant(d, ".env", 1), Path::new("/d/.env-1"));
    }

    #[test]
    fn delete_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("f");
        fs::write(&f, "x").expect("write");
        delete_file(&f).expect("deleted");
        delete_file(&f).expect("already gone is fine");
        assert!(!f.exists());
    }
}
