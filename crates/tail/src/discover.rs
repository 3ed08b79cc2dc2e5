//! Turns a `filePattern` into the files that match it now.
//!
//! Globs may appear in every path component (`/var/log/*/access*.log`, `**`), unlike the
//! agent, which only globs the file name. A `*` never crosses a `/`; `**` does. As in the
//! agent, compressed names (`.gz`, `.bz2`, `.zip`) are ignored, symlinks are followed, and
//! only regular files are candidates. A missing directory is an empty result.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use globset::{GlobBuilder, GlobMatcher};

use crate::TailError;

/// A compiled `filePattern`.
#[derive(Clone, Debug)]
pub struct FilePattern {
    pattern: String,
    matcher: GlobMatcher,
    /// The longest literal directory prefix: where scanning and watching start.
    base: PathBuf,
    /// Directory levels below `base` a match can be at (`None`: any, because of `**`).
    max_depth: Option<usize>,
}

/// One file that matches, as `stat` saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    pub dev: u64,
    pub inode: u64,
    pub size: u64,
    pub mtime_ms: u64,
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

impl FilePattern {
    /// Compiles `pattern`, which must be an absolute path.
    pub fn new(pattern: &str) -> Result<FilePattern, TailError> {
        let err = |reason: String| TailError::Pattern {
            pattern: pattern.to_owned(),
            reason,
        };
        let path = Path::new(pattern);
        if !path.is_absolute() {
            return Err(err("must be an absolute path".into()));
        }
        let matcher = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| err(e.to_string()))?
            .compile_matcher();
        let mut base = PathBuf::new();
        let mut rest = Vec::new();
        for c in path.components() {
            let s = c.as_os_str().to_string_lossy();
            if rest.is_empty() && !has_glob(&s) {
                base.push(c);
            } else {
                rest.push(s.into_owned());
            }
        }
        if rest.is_empty() {
            // A literal path: its parent is scanned, one level deep.
            let name = base
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| err("has no file name".into()))?;
            base.pop();
            rest.push(name);
        }
        let max_depth = if rest.iter().any(|s| s.contains("**")) {
            None
        } else {
            Some(rest.len())
        };
        Ok(FilePattern {
            pattern: pattern.to_owned(),
            matcher,
            base,
            max_depth,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// The directory scanning and watching start from.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// True if matches can be below the base's direct children.
    pub fn is_recursive(&self) -> bool {
        self.max_depth != Some(1)
    }

    /// True if `path` matches the pattern (compressed names never do).
    pub fn matches(&self, path: &Path) -> bool {
        if is_compressed(path) {
            return false;
        }
        self.matcher.is_match(path)
    }

    /// Every regular file that matches now, in path order.
    pub fn scan(&self) -> Vec<Candidate> {
        let mut walk = walkdir::WalkDir::new(&self.base)
            .follow_links(true)
            .min_depth(1)
            .sort_by_file_name();
        if let Some(depth) = self.max_depth {
            walk = walk.max_depth(depth);
        }
        let mut found = Vec::new();
        for entry in walk.into_iter().filter_map(Result::ok) {
            let path = entry.path();
            if !self.matches(path) {
                continue;
            }
            // Follows symlinks, like the agent; vanished files are simply skipped.
            let Ok(meta) = std::fs::metadata(path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            found.push(Candidate {
                path: path.to_owned(),
                dev: meta.dev(),
                inode: meta.ino(),
                size: meta.len(),
                mtime_ms: mtime_ms(&meta),
            });
        }
        found
    }
}

/// A file's modification time in Unix milliseconds (0 when unknown), as the tailer orders
/// files by it; the checkpoint migration compares against the same number.
pub fn mtime_ms(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn is_compressed(path: &Path) -> bool {
    let name = path.as_os_str().to_string_lossy().to_ascii_lowercase();
    [".gz", ".bz2", ".zip"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_in_directories_and_double_star() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for p in [
            "a/access.log",
            "b/access-x.log",
            "b/error.log",
            "c/d/access.log",
            "a/access.log.gz",
        ] {
            let p = root.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let names = |pat: &str| -> Vec<String> {
            let fp = FilePattern::new(&format!("{}/{pat}", root.display())).unwrap();
            fp.scan()
                .into_iter()
                .map(|c| c.path.strip_prefix(root).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(
            names("*/access*.log"),
            vec!["a/access.log", "b/access-x.log"]
        );
        assert_eq!(
            names("**/access.log"),
            vec!["a/access.log", "c/d/access.log"]
        );
        assert_eq!(names("a/access.log*"), vec!["a/access.log"]);
        assert_eq!(names("b/error.log"), vec!["b/error.log"]);
        assert!(names("missing/*.log").is_empty());
    }

    #[test]
    fn relative_patterns_are_refused() {
        assert!(FilePattern::new("logs/*.log").is_err());
    }
}
