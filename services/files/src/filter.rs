//! Which paths under the watched folder count: the `glob`, the `recursive` switch and the
//! temporary names writers use while a file is incomplete.
//!
//! Consumes paths relative to the watched folder (`/`-separated); produces yes/no. No I/O.
//!
//! Temporary names are ignored: any path component starting with `.` (dotfiles and dot-folders
//! such as `.git` or `.upload/`), names ending in `.tmp`, `.part` or `~`. Each rule is lifted
//! when the glob itself names that marker (a glob `*.part` does want `.part` files; a glob
//! with a component starting with `.` wants dotfiles).

use globset::{Glob, GlobMatcher};

/// The compiled path filter of one `on.file` trigger.
#[derive(Debug, Clone)]
pub struct Filter {
    glob: Option<GlobMatcher>,
    recursive: bool,
    allow_dot: bool,
    allow_tmp: bool,
    allow_part: bool,
    allow_tilde: bool,
}

impl Filter {
    /// Build the filter; fails when the glob does not compile (apply-time checks reject such
    /// a workflow first, so this only guards the service).
    pub fn new(glob: Option<&str>, recursive: bool) -> Result<Self, globset::Error> {
        let matcher = glob
            .map(Glob::new)
            .transpose()?
            .map(|g| g.compile_matcher());
        let text = glob.unwrap_or("");
        Ok(Self {
            glob: matcher,
            recursive,
            allow_dot: text.split('/').any(|c| c.starts_with('.')),
            allow_tmp: text.contains(".tmp"),
            allow_part: text.contains(".part"),
            allow_tilde: text.contains('~'),
        })
    }

    /// Whether a file at `rel` (relative, `/`-separated) fires events.
    pub fn wants(&self, rel: &str) -> bool {
        if rel.is_empty() || (!self.recursive && rel.contains('/')) {
            return false;
        }
        if rel.split('/').any(|c| self.is_temporary_component(c)) {
            return false;
        }
        self.glob.as_ref().is_none_or(|g| g.is_match(rel))
    }

    /// Whether the scan descends into the folder `rel` (relative, `/`-separated).
    pub fn descends(&self, rel: &str) -> bool {
        self.recursive
            && !rel
                .split('/')
                .any(|c| c.starts_with('.') && !self.allow_dot)
    }

    fn is_temporary_component(&self, c: &str) -> bool {
        (c.starts_with('.') && !self.allow_dot)
            || (c.ends_with(".tmp") && !self.allow_tmp)
            || (c.ends_with(".part") && !self.allow_part)
            || (c.ends_with('~') && !self.allow_tilde)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(glob: Option<&str>, recursive: bool) -> Filter {
        Filter::new(glob, recursive).expect("glob compiles")
    }

    #[test]
    fn every_file_without_glob_but_not_temporary_names() {
        let all = f(None, false);
        assert!(all.wants("a.csv"));
        assert!(all.wants("no-extension"));
        for temp in [".hidden", "x.tmp", "x.part", "x.csv~", ".x.csv.swp"] {
            assert!(!all.wants(temp), "{temp} should be ignored");
        }
    }

    #[test]
    fn sub_folders_only_when_recursive() {
        assert!(!f(None, false).wants("sub/a.csv"));
        assert!(f(None, true).wants("sub/a.csv"));
        assert!(!f(None, true).wants(".git/config"));
        assert!(f(None, true).descends("sub/deeper"));
        assert!(!f(None, true).descends(".upload"));
        assert!(!f(None, false).descends("sub"));
    }

    #[test]
    fn glob_matches_the_relative_path() {
        let csv = f(Some("*.csv"), true);
        assert!(csv.wants("a.csv"));
        assert!(csv.wants("2026/05/a.csv"), "`*` crosses folders");
        assert!(!csv.wants("a.json"));
        assert!(!csv.wants("a.csv.tmp"));
        let sub = f(Some("in/**/*.{csv,json}"), true);
        assert!(sub.wants("in/x/a.json"));
        assert!(!sub.wants("out/a.json"));
    }

    #[test]
    fn a_glob_naming_a_temporary_marker_wants_it() {
        assert!(f(Some("*.part"), false).wants("x.part"));
        assert!(f(Some("*.tmp"), false).wants("x.tmp"));
        assert!(f(Some(".*"), false).wants(".env"));
        assert!(f(Some("*~"), false).wants("notes~"));
        assert!(!f(Some("*.part"), false).wants("x.tmp"));
    }

    #[test]
    fn a_bad_glob_is_an_error() {
        assert!(Filter::new(Some("a[b"), false).is_err());
    }
}
