//! Object-key arithmetic, pure: where `after: move` puts an object, which keys the listing
//! ignores, and the URL-encoded `x-amz-copy-source` value. Touches nothing.

/// `move_to` as a folder: with a trailing `/` (`done` → `done/`).
pub fn as_folder(move_to: &str) -> String {
    let trimmed = move_to.trim();
    if trimmed.is_empty() || trimmed.ends_with('/') {
        trimmed.to_string()
    } else {
        format!("{trimmed}/")
    }
}

/// The folder part of `prefix`: everything up to and including its last `/`
/// (`in/report-` → `in/`, `in` → ``).
fn prefix_folder(prefix: &str) -> &str {
    match prefix.rfind('/') {
        Some(i) => &prefix[..=i],
        None => "",
    }
}

/// Where `after: move` puts `key`: `move_to` (as a folder) + the key relative to the folder
/// part of `prefix`. `prefix: in/`, `move_to: done` → `in/a/b.csv` goes to `done/a/b.csv`.
pub fn move_destination(prefix: &str, move_to: &str, key: &str) -> String {
    let folder = prefix_folder(prefix);
    let relative = key.strip_prefix(folder).unwrap_or(key);
    format!("{}{relative}", as_folder(move_to))
}

/// Whether the listing skips `key`: folder markers (`dir/`, made by consoles, not files) and,
/// with `after: move`, everything already under `move_to` (so a destination inside the
/// watched prefix does not fire again).
pub fn ignored(key: &str, moved_folder: Option<&str>) -> bool {
    key.ends_with('/') || moved_folder.is_some_and(|folder| key.starts_with(folder))
}

/// `bucket/key` URL-encoded for `x-amz-copy-source` (`/` kept, everything outside the
/// unreserved set percent-encoded as UTF-8).
pub fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(bucket.len() + key.len() + 1);
    for byte in bucket
        .bytes()
        .chain(std::iter::once(b'/'))
        .chain(key.bytes())
    {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An ETag without the quotes S3 puts around it.
pub fn bare_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn move_keeps_the_path_below_the_prefix_folder() {
        assert_eq!(
            move_destination("in/", "done", "in/a/b.csv"),
            "done/a/b.csv"
        );
        assert_eq!(move_destination("in/", "done/", "in/x.csv"), "done/x.csv");
        assert_eq!(
            move_destination("in/report-", "done/", "in/report-1.csv"),
            "done/report-1.csv"
        );
        assert_eq!(
            move_destination("", "processed", "x.csv"),
            "processed/x.csv"
        );
        assert_eq!(move_destination("in", "done", "in/x.csv"), "done/in/x.csv");
    }

    #[test]
    fn folders_and_moved_objects_are_ignored() {
        assert!(ignored("in/", None));
        assert!(!ignored("in/a.csv", None));
        assert!(ignored("done/a.csv", Some("done/")));
        assert!(!ignored("donee.csv", Some("done/")));
    }

    #[test]
    fn copy_source_is_url_encoded() {
        assert_eq!(copy_source("b", "in/a b+c.csv"), "b/in/a%20b%2Bc.csv");
        assert_eq!(copy_source("b", "ü.txt"), "b/%C3%BC.txt");
        assert_eq!(copy_source("b", "a-b_c.~d"), "b/a-b_c.~d");
    }

    #[test]
    fn etags_lose_their_quotes() {
        assert_eq!(bare_etag("\"abc\""), "abc");
        assert_eq!(bare_etag("abc-2"), "abc-2");
    }
}
