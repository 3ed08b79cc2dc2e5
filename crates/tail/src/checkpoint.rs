//! The daemon's checkpoint file: one per daemon, shared by every flow.
//!
//! [`CheckpointStore`] owns the file and its writer; each flow gets a [`FlowCheckpoints`]
//! handle. A flow's tailer `put`s an entry whenever a file's watermark moves; the writer
//! persists the whole state on a timer and at shutdown, only if something changed.
//!
//! Crash safety: the state is written to `<path>.tmp`, fsynced, renamed over `<path>`,
//! and the directory is fsynced, so after kill -9 or power loss the file is either the
//! old or the new state, never a torn one. The stored offsets are watermarks, so they
//! never pass an unacknowledged byte (see `watermark.rs`).
//!
//! A write that fails (a full or read-only file system) loses nothing by itself: delivery
//! goes on, the state stays dirty and every tick tries again, and the old file stays whole.
//! What it costs is duplicates: a restart before the next good write re-sends what was
//! acknowledged since the last one. So failures are loud but not noisy (one ERROR, then one
//! a minute), visible in [`CheckpointStore::write_health`] (the daemon's readiness and
//! metrics), and the partial temp file is removed so it does not hold the space it lacked.
//!
//! Format (pinned by a golden test): `{"version":1,"checkpoints":[...]}`, entries keyed
//! by flow id and `(dev, inode)`, sorted. Entries of files gone for longer than the TTL
//! are forgotten when the store is opened.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use firetail_agent::log_gate::LogGate;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::TailError;

/// The format version written; files with another version are refused.
pub const CHECKPOINT_VERSION: u32 = 1;
/// How long the entry of a file that disappeared is kept (the agent's
/// `checkpointTimeToLiveDays` default).
pub const DEFAULT_GONE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// What is remembered about one file of one flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    pub flow: String,
    /// Hash of the file's first bytes (hex), absent while the file was too short.
    pub fingerprint: Option<String>,
    pub dev: u64,
    pub inode: u64,
    /// Where the file was last seen (informational; identity is fingerprint + inode).
    pub path: String,
    /// The watermark: every byte before it was acknowledged.
    pub offset: u64,
    /// Hash of the bytes just before `offset` (hex).
    pub marker: Option<String>,
    pub size: u64,
    pub mtime_ms: u64,
    /// When this entry last changed (ms since the epoch).
    pub updated_ms: u64,
    /// Since when the file has been missing, if it is (ms since the epoch).
    pub gone_since_ms: Option<u64>,
}

impl FileCheckpoint {
    fn same_state(&self, other: &FileCheckpoint) -> bool {
        let mut a = self.clone();
        a.updated_ms = other.updated_ms;
        a == *other
    }
}

/// Hex form of a persisted hash.
pub fn hash_hex(h: u64) -> String {
    format!("{h:016x}")
}

#[derive(Serialize, Deserialize)]
struct CheckpointFileV1 {
    version: u32,
    checkpoints: Vec<FileCheckpoint>,
}

type EntryKey = (String, u64, u64);

#[derive(Default)]
struct StoreState {
    entries: BTreeMap<EntryKey, FileCheckpoint>,
    dirty: bool,
}

struct StoreInner {
    path: PathBuf,
    flush_interval: Duration,
    state: Mutex<StoreState>,
    /// Serialises writers so two flushes never interleave their temp files.
    write_lock: Mutex<()>,
    health: Mutex<WriteHealth>,
}

/// Whether the checkpoint file is being saved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteHealth {
    /// While writes fail: the latest error.
    pub failing: Option<String>,
    /// Failed writes since the store was opened.
    pub failures_total: u64,
}

/// How often a write failure that goes on is logged again.
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// The checkpoint file of the daemon. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct CheckpointStore {
    inner: Arc<StoreInner>,
}

/// One flow's view of the store.
#[derive(Clone)]
pub struct FlowCheckpoints {
    inner: Arc<StoreInner>,
    flow: String,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CheckpointStore {
    /// Opens (or creates on first flush) the checkpoint file at `path`, forgetting
    /// entries of files gone for more than [`DEFAULT_GONE_TTL`].
    pub fn open(path: &Path, flush_interval: Duration) -> Result<CheckpointStore, TailError> {
        Self::open_with_ttl(path, flush_interval, DEFAULT_GONE_TTL)
    }

    /// [`CheckpointStore::open`] with an explicit time-to-live for gone files.
    pub fn open_with_ttl(
        path: &Path,
        flush_interval: Duration,
        gone_ttl: Duration,
    ) -> Result<CheckpointStore, TailError> {
        let mut state = StoreState::default();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The agent's default directory (/var/run/...) vanishes on reboot (#39, #189).
            fs::create_dir_all(dir).map_err(|source| TailError::CheckpointIo {
                path: path.to_owned(),
                source,
            })?;
        }
        match fs::read(path) {
            Ok(bytes) => {
                let file: CheckpointFileV1 = serde_json::from_slice(&bytes).map_err(|source| {
                    TailError::CheckpointCorrupt {
                        path: path.to_owned(),
                        source,
                    }
                })?;
                if file.version != CHECKPOINT_VERSION {
                    return Err(TailError::CheckpointVersion {
                        path: path.to_owned(),
                        version: file.version,
                    });
                }
                let cutoff = now_ms().saturating_sub(gone_ttl.as_millis() as u64);
                let total = file.checkpoints.len();
                for cp in file.checkpoints {
                    if cp.gone_since_ms.is_some_and(|t| t < cutoff) {
                        continue;
                    }
                    state
                        .entries
                        .insert((cp.flow.clone(), cp.dev, cp.inode), cp);
                }
                let forgotten = total - state.entries.len();
                if forgotten > 0 {
                    tracing::info!(forgotten, path = %path.display(), "forgot checkpoints of files gone too long");
                    state.dirty = true;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(TailError::CheckpointIo {
                    path: path.to_owned(),
                    source,
                })
            }
        }
        Ok(CheckpointStore {
            inner: Arc::new(StoreInner {
                path: path.to_owned(),
                flush_interval,
                state: Mutex::new(state),
                write_lock: Mutex::new(()),
                health: Mutex::new(WriteHealth::default()),
            }),
        })
    }

    /// The handle a flow's tailer uses.
    pub fn flow(&self, flow_id: &str) -> FlowCheckpoints {
        FlowCheckpoints {
            inner: self.inner.clone(),
            flow: flow_id.to_owned(),
        }
    }

    /// Writes the state now if it changed since the last write.
    pub fn flush_now(&self) -> Result<(), TailError> {
        flush(&self.inner)
    }

    /// Whether the latest write succeeded, and how many failed so far.
    pub fn write_health(&self) -> WriteHealth {
        lock(&self.inner.health).clone()
    }

    /// The checkpoint file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Flushes every `flush_interval` until `shutdown` fires, then a final time. Cancel
    /// `shutdown` only after the flows' `run_flow` returned, so their final acks are in.
    pub async fn run_writer(&self, shutdown: CancellationToken) -> Result<(), TailError> {
        let mut tick = tokio::time::interval(self.inner.flush_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failures = FailureLog::default();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    let inner = self.inner.clone();
                    match tokio::task::spawn_blocking(move || flush(&inner)).await {
                        Ok(result) => failures.record(&result),
                        Err(e) => tracing::error!(error = %e, "checkpoint writer task failed"),
                    }
                }
            }
        }
        self.flush_now()
    }
}

/// Logs failed writes once when they start, once a minute while they go on, and once
/// when they stop. Every tick retries, so logging each one would flood the journal.
struct FailureLog {
    in_a_row: u64,
    gate: LogGate,
}

impl Default for FailureLog {
    fn default() -> FailureLog {
        FailureLog {
            in_a_row: 0,
            gate: LogGate::new(FAILURE_LOG_INTERVAL),
        }
    }
}

impl FailureLog {
    fn record(&mut self, result: &Result<(), TailError>) {
        match result {
            Ok(()) => {
                if self.in_a_row > 0 {
                    tracing::info!(
                        failed_attempts = self.in_a_row,
                        "checkpoint file written again"
                    );
                }
                *self = FailureLog::default();
            }
            Err(e) => {
                self.in_a_row += 1;
                if self.gate.due() {
                    tracing::error!(
                        error = %e,
                        failed_attempts = self.in_a_row,
                        "cannot save checkpoints; delivery goes on, but a restart now would \
                         re-send what was acknowledged since the last save (retrying every tick)"
                    );
                }
            }
        }
    }
}

fn flush(inner: &StoreInner) -> Result<(), TailError> {
    let _writing = lock(&inner.write_lock);
    let bytes = {
        let mut state = lock(&inner.state);
        if !state.dirty {
            return Ok(());
        }
        state.dirty = false;
        encode(state.entries.values())
    };
    let result = write_atomically(&inner.path, &bytes);
    let mut health = lock(&inner.health);
    match &result {
        Ok(()) => health.failing = None,
        Err(e) => {
            lock(&inner.state).dirty = true;
            health.failing = Some(e.to_string());
            health.failures_total += 1;
        }
    }
    result
}

fn encode<'a>(entries: impl Iterator<Item = &'a FileCheckpoint>) -> Vec<u8> {
    let file = CheckpointFileV1 {
        version: CHECKPOINT_VERSION,
        checkpoints: entries.cloned().collect(),
    };
    // Serialising plain structs of strings and integers cannot fail.
    let mut bytes = serde_json::to_vec(&file).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TailError> {
    let io_err = |source| TailError::CheckpointIo {
        path: path.to_owned(),
        source,
    };
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        });
    if let Err(e) = written {
        // On a full file system a partial temp file holds the very space that is missing.
        let _ = fs::remove_file(&tmp);
        return Err(io_err(e));
    }
    fs::rename(&tmp, path).map_err(io_err)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err)?;
    Ok(())
}

impl FlowCheckpoints {
    /// The flow id.
    pub fn flow_id(&self) -> &str {
        &self.flow
    }

    /// Every entry of this flow (at startup: where each known file resumes).
    pub fn entries(&self) -> Vec<FileCheckpoint> {
        let state = lock(&self.inner.state);
        state
            .entries
            .range((self.flow.clone(), 0, 0)..)
            .take_while(|((flow, _, _), _)| *flow == self.flow)
            .map(|(_, cp)| cp.clone())
            .collect()
    }

    /// Inserts or replaces the entry of `(cp.dev, cp.inode)`; unchanged state is not
    /// marked for writing. The flow field is set to this flow.
    pub fn put(&self, mut cp: FileCheckpoint) {
        cp.flow.clone_from(&self.flow);
        let key = (self.flow.clone(), cp.dev, cp.inode);
        let mut state = lock(&self.inner.state);
        if let Some(old) = state.entries.get(&key) {
            if old.same_state(&cp) {
                return;
            }
        }
        cp.updated_ms = now_ms();
        state.entries.insert(key, cp);
        state.dirty = true;
    }

    /// Forgets the entry of `(dev, inode)` (a file fully read and gone).
    pub fn remove(&self, dev: u64, inode: u64) {
        let mut state = lock(&self.inner.state);
        if state
            .entries
            .remove(&(self.flow.clone(), dev, inode))
            .is_some()
        {
            state.dirty = true;
        }
    }

    /// Notes that the file `(dev, inode)` is missing, from now if not already.
    pub fn mark_gone(&self, dev: u64, inode: u64) {
        let mut state = lock(&self.inner.state);
        if let Some(cp) = state.entries.get_mut(&(self.flow.clone(), dev, inode)) {
            if cp.gone_since_ms.is_none() {
                cp.gone_since_ms = Some(now_ms());
                state.dirty = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_keeps_the_state_dirty_reports_it_and_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.json");
        let store = CheckpointStore::open(&path, Duration::from_secs(1)).unwrap();
        // A directory where the file should be: the rename over it fails, as a full or
        // read-only file system would make some step fail.
        fs::create_dir(&path).unwrap();
        store.flow("f").put(sample("f", 7));
        assert!(store.flush_now().is_err());
        let health = store.write_health();
        assert_eq!(health.failures_total, 1);
        assert!(health.failing.unwrap().contains("checkpoints.json"));

        fs::remove_dir(&path).unwrap();
        store.flush_now().unwrap();
        assert_eq!(
            store.write_health(),
            WriteHealth {
                failing: None,
                failures_total: 1
            }
        );
        let reopened = CheckpointStore::open(&path, Duration::from_secs(1)).unwrap();
        assert_eq!(
            reopened.flow("f").entries().len(),
            1,
            "the retried write saved the state"
        );
    }

    fn sample(flow: &str, inode: u64) -> FileCheckpoint {
        FileCheckpoint {
            flow: flow.into(),
            fingerprint: Some(hash_hex(0x0123_4567_89ab_cdef)),
            dev: 64769,
            inode,
            path: "/var/log/app.log".into(),
            offset: 1234,
            marker: Some(hash_hex(42)),
            size: 2000,
            mtime_ms: 1_700_000_000_000,
            updated_ms: 1_700_000_000_500,
            gone_since_ms: None,
        }
    }

    #[test]
    fn the_format_is_pinned() {
        let bytes = encode([sample("f1", 7)].iter());
        let golden = concat!(
            r#"{"version":1,"checkpoints":[{"flow":"f1","fingerprint":"0123456789abcdef","#,
            r#""dev":64769,"inode":7,"path":"/var/log/app.log","offset":1234,"#,
            r#""marker":"000000000000002a","size":2000,"mtime_ms":1700000000000,"#,
            r#""updated_ms":1700000000500,"gone_since_ms":null}]}"#,
            "\n"
        );
        assert_eq!(String::from_utf8(bytes).unwrap(), golden);
    }

    #[test]
    fn round_trip_per_flow_and_unchanged_state_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints");
        let store = CheckpointStore::open(&path, Duration::from_secs(1)).unwrap();
        let (a, b) = (store.flow("a"), store.flow("b"));
        a.put(sample("ignored", 1));
        b.put(sample("b", 2));
        store.flush_now().unwrap();
        let written = fs::metadata(&path).unwrap().modified().unwrap();
        fs::remove_file(&path).unwrap();
        a.put(sample("a", 1));
        store.flush_now().unwrap();
        assert!(
            !path.exists(),
            "unchanged state must not be rewritten ({written:?})"
        );
        let mut moved = sample("a", 1);
        moved.offset = 2000;
        a.put(moved);
        store.flush_now().unwrap();

        let reopened = CheckpointStore::open(&path, Duration::from_secs(1)).unwrap();
        let a_entries = reopened.flow("a").entries();
        assert_eq!(a_entries.len(), 1);
        assert_eq!(
            (a_entries[0].flow.as_str(), a_entries[0].offset),
            ("a", 2000)
        );
        assert_eq!(reopened.flow("b").entries()[0].inode, 2);
        assert!(reopened.flow("c").entries().is_empty());
    }

    #[test]
    fn files_gone_too_long_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints");
        let store = CheckpointStore::open(&path, Duration::from_secs(1)).unwrap();
        let f = store.flow("f");
        f.put(sample("f", 1));
        f.put(sample("f", 2));
        f.mark_gone(1, 1); // no such entry: a no-op
        f.mark_gone(64769, 1);
        store.flush_now().unwrap();
        let kept = CheckpointStore::open_with_ttl(
            &path,
            Duration::from_secs(1),
            Duration::from_secs(3600),
        )
        .unwrap();
        assert_eq!(kept.flow("f").entries().len(), 2);
        std::thread::sleep(Duration::from_millis(5));
        let pruned =
            CheckpointStore::open_with_ttl(&path, Duration::from_secs(1), Duration::ZERO).unwrap();
        let left = pruned.flow("f").entries();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].inode, 2);
    }

    #[test]
    fn a_missing_directory_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/firetail/checkpoints");
        let store = CheckpointStore::open(&path, Duration::from_secs(1)).unwrap();
        store.flow("f").put(sample("f", 1));
        store.flush_now().unwrap();
        assert!(path.exists());
    }

    #[test]
    fn a_corrupt_file_is_an_error_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints");
        fs::write(&path, b"{not json").unwrap();
        let err = CheckpointStore::open(&path, Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(err.to_string().contains("checkpoints"), "{err}");
    }
}
