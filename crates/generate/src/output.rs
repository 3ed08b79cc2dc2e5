//! Where lines go: stdout or a log file that rotates the way production files do.
//!
//! Invariants:
//! - The write buffer only ever holds whole lines, and a rotation happens only after the buffer
//!   up to the previous line has been written, so a reader never sees a torn line and never
//!   sees a line cross from one file into the next.
//! - On a failed write the file is cut back (`set_len`) to the end of its last complete line
//!   where the file system allows, and the error names the file.
//! - copytruncate copies and truncates with no write in between: logrotate loses the lines a
//!   server writes in that gap, but here the generator owns the writes, so nothing is lost.
//!
//! Rotation modes:
//! - `rename` (logrotate's default): `log.N` → `log.N+1`, `log` → `log.1`, new `log`.
//! - `copytruncate`: same shifting, then `log` is copied to `log.1` and truncated in place.
//! - `dated`: each period gets its own file, `log-20261125` (daily), `log-20261125-13`
//!   (hourly), `log-20261125-1305` (minutes) or `log-20261125-130512` (otherwise / size only);
//!   a name already taken gets `.1`, `.2`... The base name itself is never written and no
//!   symlink is made: with a symlink and its target both matching `log*`, the Kinesis Agent sees
//!   the same inode twice and wedges its flow (kinesis-agent.md §4.1).
//!
//! `keep` bounds the rotated files (0 = keep all): numbered files beyond it are deleted, and in
//! dated mode the oldest files this run created are deleted.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::fmt::{date_stamp, StampGranularity};

/// Size of the in-memory write buffer per output.
pub const WRITE_BUFFER: usize = 256 * 1024;

/// How rotated files are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RotateMode {
    /// Rename to `.1`, `.2`, ... and create a new file (logrotate's default).
    #[default]
    Rename,
    /// Copy to `.1` then truncate the live file in place.
    Copytruncate,
    /// A new file per period, named with a date stamp.
    Dated,
}

/// When and how to rotate.
#[derive(Debug, Clone, PartialEq)]
pub struct RotationPolicy {
    /// Rename, copytruncate or dated.
    pub mode: RotateMode,
    /// Rotate before a line would take the file past this many bytes.
    pub max_bytes: Option<u64>,
    /// Rotate at each multiple of this interval (aligned to the Unix epoch, in log time).
    pub interval: Option<Duration>,
    /// Rotated files to keep; 0 keeps all.
    pub keep: usize,
}

/// What one rotation did, for hooks (tests use it to pace a reader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The file that was being written before the rotation.
    pub previous: PathBuf,
    /// Where the previous content now lives (`log.1`, or the dated file itself).
    pub rotated_to: PathBuf,
    /// The file written from now on.
    pub current: PathBuf,
    /// How many rotations this output has done, this one included.
    pub count: u64,
}

/// Called after every rotation, on the generator thread (keep it short).
pub type RotateHook = Arc<dyn Fn(&Rotation) + Send + Sync>;

/// Counters shared with whoever watches the generator (metrics, progress line).
#[derive(Debug, Default)]
pub struct Progress {
    /// Lines that reached their file or stdout.
    pub lines: AtomicU64,
    /// Bytes that reached their file or stdout.
    pub bytes: AtomicU64,
    /// Rotations done.
    pub rotations: AtomicU64,
}

/// One output: stdout or a (rotating) file. Lines are rendered straight into [`Sink::buf`].
pub(crate) struct Sink {
    /// Whole lines not yet written.
    pub buf: Vec<u8>,
    lines_in_buf: u64,
    lines_written: u64,
    bytes_written: u64,
    dest: Dest,
    progress: Arc<Progress>,
}

enum Dest {
    Stdout,
    File(Box<LogFile>),
}

struct LogFile {
    /// The configured path (dated mode derives names from it).
    base: PathBuf,
    /// The file being written.
    current: PathBuf,
    file: File,
    /// Bytes of `current` known to hold whole lines.
    committed: u64,
    policy: Option<RotationPolicy>,
    /// Interval period (log-time seconds / interval) the current file belongs to.
    period: Option<i64>,
    rotations: u64,
    dated_history: VecDeque<PathBuf>,
    files_written: Vec<PathBuf>,
    hook: Option<RotateHook>,
}

impl Sink {
    /// An output to stdout.
    pub fn stdout(progress: Arc<Progress>) -> Sink {
        Sink {
            buf: Vec::with_capacity(WRITE_BUFFER + 16 * 1024),
            lines_in_buf: 0,
            lines_written: 0,
            bytes_written: 0,
            dest: Dest::Stdout,
            progress,
        }
    }

    /// An output to the file at `base`, appending if it exists. `now_secs` is the log time of
    /// the first line, which names the first file in dated mode.
    pub fn file(
        base: &Path,
        policy: Option<RotationPolicy>,
        hook: Option<RotateHook>,
        now_secs: i64,
        progress: Arc<Progress>,
    ) -> Result<Sink, Error> {
        let period = policy
            .as_ref()
            .and_then(|p| p.interval)
            .map(|i| period_of(now_secs, i));
        let current = match &policy {
            Some(p) if p.mode == RotateMode::Dated => free_dated_name(base, p, now_secs),
            _ => base.to_path_buf(),
        };
        let (file, committed) = open_append(&current)?;
        let mut dated_history = VecDeque::new();
        if policy.as_ref().is_some_and(|p| p.mode == RotateMode::Dated) {
            dated_history.push_back(current.clone());
        }
        Ok(Sink {
            buf: Vec::with_capacity(WRITE_BUFFER + 16 * 1024),
            lines_in_buf: 0,
            lines_written: 0,
            bytes_written: 0,
            dest: Dest::File(Box::new(LogFile {
                base: base.to_path_buf(),
                files_written: vec![current.clone()],
                current,
                file,
                committed,
                policy,
                period,
                rotations: 0,
                dated_history,
                hook,
            })),
            progress,
        })
    }

    /// Files this output has written to (live and rotated names at the time they were made).
    pub fn files_written(&self) -> Vec<PathBuf> {
        match &self.dest {
            Dest::Stdout => Vec::new(),
            Dest::File(f) => f.files_written.clone(),
        }
    }

    /// Lines this output has written.
    pub fn lines_written(&self) -> u64 {
        self.lines_written
    }

    /// Bytes this output has written.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// The file currently written, for the progress line.
    pub fn current_path(&self) -> Option<&Path> {
        match &self.dest {
            Dest::Stdout => None,
            Dest::File(f) => Some(&f.current),
        }
    }

    /// Accounts for the line just rendered into `buf` at `line_start..`, rotating first if the
    /// line belongs in the next file, and writing out the buffer once it is full.
    pub fn commit_line(&mut self, line_start: usize, now_secs: i64) -> Result<(), Error> {
        self.lines_in_buf += 1;
        if let Dest::File(f) = &self.dest {
            if f.rotation_due(line_start, self.buf.len(), now_secs) {
                self.write_prefix(line_start, 1)?;
                if let Dest::File(f) = &mut self.dest {
                    f.rotate(now_secs)?;
                }
                self.progress.rotations.fetch_add(1, Ordering::Relaxed);
            }
        }
        if self.buf.len() >= WRITE_BUFFER {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes every buffered line.
    pub fn flush(&mut self) -> Result<(), Error> {
        let len = self.buf.len();
        self.write_prefix(len, 0)
    }

    /// Writes `buf[..end]` (whole lines, `pending_lines` of the buffered lines stay behind).
    fn write_prefix(&mut self, end: usize, pending_lines: u64) -> Result<(), Error> {
        if end == 0 {
            return Ok(());
        }
        let lines = self.lines_in_buf - pending_lines;
        let result = match &mut self.dest {
            Dest::Stdout => std::io::stdout().lock().write_all(&self.buf[..end]),
            Dest::File(f) => f.write_whole(&self.buf[..end]),
        };
        if let Err(source) = result {
            let path = match &self.dest {
                Dest::Stdout => PathBuf::from("-"),
                Dest::File(f) => f.current.clone(),
            };
            return Err(Error::Write {
                path,
                lines_written: self.lines_written,
                source,
            });
        }
        self.buf.drain(..end);
        self.lines_in_buf = pending_lines;
        self.lines_written += lines;
        self.bytes_written += end as u64;
        self.progress.lines.fetch_add(lines, Ordering::Relaxed);
        self.progress.bytes.fetch_add(end as u64, Ordering::Relaxed);
        Ok(())
    }
}

impl LogFile {
    /// Whether the line at `line_start..buf_len` must go to a new file.
    fn rotation_due(&self, line_start: usize, buf_len: usize, now_secs: i64) -> bool {
        let Some(policy) = &self.policy else {
            return false;
        };
        let before = self.committed + line_start as u64;
        if let (Some(max), true) = (policy.max_bytes, before > 0) {
            if self.committed + buf_len as u64 > max {
                return true;
            }
        }
        match (policy.interval, self.period) {
            (Some(interval), Some(period)) => period_of(now_secs, interval) > period,
            _ => false,
        }
    }

    fn write_whole(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.file.write_all(bytes) {
            Ok(()) => {
                self.committed += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Cut off whatever part of the batch made it, so the file ends with a whole line.
                if let Err(cut) = self.file.set_len(self.committed) {
                    tracing::warn!(path = %self.current.display(), error = %cut,
                        "could not cut the file back to its last whole line");
                }
                Err(e)
            }
        }
    }

    fn rotate(&mut self, now_secs: i64) -> Result<(), Error> {
        let Some(policy) = self.policy.clone() else {
            return Ok(());
        };
        let previous = self.current.clone();
        let rotated_to = match policy.mode {
            RotateMode::Rename => {
                shift_numbered(&self.base, policy.keep)?;
                let first = numbered(&self.base, 1);
                rename(&self.base, &first)?;
                let (file, committed) = open_append(&self.base)?;
                self.file = file;
                self.committed = committed;
                first
            }
            RotateMode::Copytruncate => {
                shift_numbered(&self.base, policy.keep)?;
                let first = numbered(&self.base, 1);
                std::fs::copy(&self.base, &first).map_err(|source| Error::Rotate {
                    path: self.base.clone(),
                    step: format!("copy to {}", first.display()),
                    source,
                })?;
                self.file.set_len(0).map_err(|source| Error::Rotate {
                    path: self.base.clone(),
                    step: "truncate".to_string(),
                    source,
                })?;
                self.committed = 0;
                first
            }
            RotateMode::Dated => {
                let next = free_dated_name(&self.base, &policy, now_secs);
                let (file, committed) = open_append(&next)?;
                self.file = file;
                self.committed = committed;
                self.current = next.clone();
                self.dated_history.push_back(next);
                self.prune_dated(policy.keep)?;
                previous.clone()
            }
        };
        if let Some(interval) = policy.interval {
            self.period = Some(period_of(now_secs, interval));
        }
        self.rotations += 1;
        if !self.files_written.contains(&rotated_to) {
            self.files_written.push(rotated_to.clone());
        }
        if !self.files_written.contains(&self.current) {
            self.files_written.push(self.current.clone());
        }
        let event = Rotation {
            previous,
            rotated_to,
            current: self.current.clone(),
            count: self.rotations,
        };
        tracing::debug!(?event, "rotated");
        if let Some(hook) = &self.hook {
            hook(&event);
        }
        Ok(())
    }

    fn prune_dated(&mut self, keep: usize) -> Result<(), Error> {
        // History holds the live file too, hence `keep + 1`.
        while keep > 0 && self.dated_history.len() > keep + 1 {
            if let Some(oldest) = self.dated_history.pop_front() {
                remove(&self.base, &oldest)?;
            }
        }
        Ok(())
    }
}

fn period_of(now_secs: i64, interval: Duration) -> i64 {
    now_secs.div_euclid(interval.as_secs().max(1) as i64)
}

fn open_append(path: &Path) -> Result<(File, u64), Error> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
    let len = file
        .metadata()
        .map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    Ok((file, len))
}

/// `log` → `log.n`.
pub(crate) fn numbered(base: &Path, n: usize) -> PathBuf {
    let mut s = base.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Makes room for a new `.1`: `.n` → `.n+1` from the top, deleting what `keep` excludes.
fn shift_numbered(base: &Path, keep: usize) -> Result<(), Error> {
    let mut highest = 0;
    while numbered(base, highest + 1).exists() {
        highest += 1;
    }
    for n in (1..=highest).rev() {
        let from = numbered(base, n);
        if keep > 0 && n >= keep {
            remove(base, &from)?;
        } else {
            rename(&from, &numbered(base, n + 1))?;
        }
    }
    Ok(())
}

fn rename(from: &Path, to: &Path) -> Result<(), Error> {
    std::fs::rename(from, to).map_err(|source| Error::Rotate {
        path: from.to_path_buf(),
        step: format!("rename to {}", to.display()),
        source,
    })
}

fn remove(base: &Path, victim: &Path) -> Result<(), Error> {
    match std::fs::remove_file(victim) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Rotate {
            path: base.to_path_buf(),
            step: format!("delete {}", victim.display()),
            source,
        }),
    }
}

/// The stamp granularity that fits the rotation interval.
pub(crate) fn granularity(policy: &RotationPolicy) -> StampGranularity {
    match policy.interval.map(|i| i.as_secs()) {
        Some(s) if s > 0 && s % 86_400 == 0 => StampGranularity::Day,
        Some(s) if s > 0 && s % 3_600 == 0 => StampGranularity::Hour,
        Some(s) if s > 0 && s % 60 == 0 => StampGranularity::Minute,
        _ => StampGranularity::Second,
    }
}

/// `log-<stamp>` for the period containing `now_secs`, or `log-<stamp>.N` if taken.
fn free_dated_name(base: &Path, policy: &RotationPolicy, now_secs: i64) -> PathBuf {
    let period_start = match policy.interval {
        Some(i) => period_of(now_secs, i) * i.as_secs().max(1) as i64,
        None => now_secs,
    };
    let mut name = base.as_os_str().to_os_string();
    name.push("-");
    name.push(date_stamp(period_start, granularity(policy)));
    let candidate = PathBuf::from(&name);
    if !candidate.exists() {
        return candidate;
    }
    (1..)
        .map(|n| {
            let mut s = name.clone();
            s.push(format!(".{n}"));
            PathBuf::from(s)
        })
        .find(|p| !p.exists())
        .unwrap_or(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mode: RotateMode, max_bytes: Option<u64>, keep: usize) -> RotationPolicy {
        RotationPolicy {
            mode,
            max_bytes,
            interval: None,
            keep,
        }
    }

    fn write_lines(sink: &mut Sink, n: usize, now: i64) {
        for i in 0..n {
            let start = sink.buf.len();
            sink.buf
                .extend_from_slice(format!("line {i:04}\n").as_bytes());
            sink.commit_line(start, now).unwrap();
        }
        sink.flush().unwrap();
    }

    #[test]
    fn rename_rotation_shifts_and_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("access.log");
        let progress = Arc::new(Progress::default());
        let mut sink = Sink::file(
            &base,
            Some(policy(RotateMode::Rename, Some(100), 2)),
            None,
            0,
            progress.clone(),
        )
        .unwrap();
        write_lines(&mut sink, 40, 0); // 10 bytes a line, 10 lines a file
        assert!(base.exists());
        assert!(numbered(&base, 1).exists());
        assert!(numbered(&base, 2).exists());
        assert!(!numbered(&base, 3).exists());
        assert_eq!(std::fs::read(numbered(&base, 1)).unwrap().len(), 100);
        assert_eq!(progress.lines.load(Ordering::Relaxed), 40);
        assert_eq!(progress.rotations.load(Ordering::Relaxed), 3);
        let last = std::fs::read_to_string(numbered(&base, 1)).unwrap();
        assert!(last.starts_with("line 0020\n") && last.ends_with("line 0029\n"));
    }

    #[test]
    fn dated_interval_rotation_names_files_by_period() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("access.log");
        let p = RotationPolicy {
            mode: RotateMode::Dated,
            max_bytes: None,
            interval: Some(Duration::from_secs(60)),
            keep: 0,
        };
        let t0 = 1_795_611_912; // 2026-11-25T13:05:12Z
        let mut sink = Sink::file(&base, Some(p), None, t0, Arc::new(Progress::default())).unwrap();
        write_lines(&mut sink, 3, t0);
        write_lines(&mut sink, 3, t0 + 60);
        assert!(!base.exists(), "the base name stays free");
        let a = dir.path().join("access.log-20261125-1305");
        let b = dir.path().join("access.log-20261125-1306");
        assert_eq!(std::fs::read(&a).unwrap().len(), 30);
        assert_eq!(std::fs::read(&b).unwrap().len(), 30);
        assert_eq!(sink.files_written(), vec![a, b]);
    }

    #[test]
    fn full_disk_is_a_write_error_naming_the_file() {
        let dev_full = Path::new("/dev/full");
        if !dev_full.exists() {
            return;
        }
        let mut sink = Sink::file(dev_full, None, None, 0, Arc::new(Progress::default())).unwrap();
        sink.buf.extend_from_slice(b"x\n");
        let err = sink.flush().unwrap_err();
        assert!(
            matches!(err, Error::Write { ref path, .. } if path == dev_full),
            "{err}"
        );
        assert_eq!(err.exit_code(), 1);
    }
}
