//! Discover, tail and frame log files; turn acknowledgements into checkpoints.
//!
//! The tailer is the first stage of a flow: it turns a `filePattern` into [`Record`]s,
//! each carrying the [`Span`] of file bytes it came from, and turns the spans that come
//! back through the flow's [`Acker`] into per-file watermarks and durable checkpoints.
//!
//! # Layout
//! - [`frame`]: the pure framer (bytes in, records out), byte-exact with the agent.
//! - [`watermark`]: out-of-order acknowledgements to the lowest unacknowledged offset.
//! - [`checkpoint`]: the daemon's checkpoint file ([`CheckpointStore`]) and per-flow handles.
//! - [`identity`]: fingerprints and offset markers (which file is this, is my offset valid).
//! - [`discover`]: `filePattern` globs to candidate files.
//! - [`run_flow`] (module `tailer`): the per-flow task tying them together.
//!
//! # Invariants
//! 1. A checkpoint never passes a byte whose record was not acknowledged.
//! 2. Bytes read and not acknowledged stay under `max_in_flight_bytes` (plus at most one
//!    record when nothing else is in flight): at the limit the files are the buffer.
//! 3. Rotated or deleted files are drained to EOF and held open until their bytes are
//!    acknowledged; no timer drops unread bytes.
//! 4. No input (bytes, names, sizes) makes the tailer panic.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod checkpoint;
pub mod discover;
mod error;
pub mod frame;
pub mod identity;
mod tailer;
pub mod watermark;

use std::path::PathBuf;
use std::time::Duration;

pub use checkpoint::{CheckpointStore, FileCheckpoint, FlowCheckpoints, WriteHealth};
pub use error::TailError;
pub use firetail_record::{Acker, FileId, Record, Span};
pub use frame::FramingConfig;
pub use tailer::run_flow;

/// Where a file seen for the first time (on the flow's first start, with no checkpoint)
/// starts. Files that appear later, and every file of a flow that has checkpoints, start
/// at 0 (or their checkpoint), so nothing written while the daemon was down is skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitialPosition {
    StartOfFile,
    /// The agent's default: after the last complete line of the last read-buffer of data.
    #[default]
    EndOfFile,
}

/// Everything one flow's tailer needs.
#[derive(Clone, Debug)]
pub struct TailConfig {
    /// Used as the checkpoint key and in logs.
    pub flow_id: String,
    /// Absolute path; globs allowed in every component.
    pub file_pattern: String,
    pub framing: FramingConfig,
    pub initial_position: InitialPosition,
    /// Open descriptors per flow; more matching files wait (with a warning).
    pub max_open_files: usize,
    /// Bytes read and not yet acknowledged, across the flow's files.
    pub max_in_flight_bytes: u64,
    /// Rescan of the pattern while polling (no inotify), and how long a rotated file must
    /// stay quiet at its end before it is finished.
    pub reconcile_interval: Duration,
    /// Rescan of the pattern while inotify works (`maxTimeBetweenFileTrackerRefreshMillis`):
    /// a safety net only, since namespace events trigger a scan at once and write
    /// events a read. At least `reconcile_interval`.
    pub full_scan_interval: Duration,
    /// Emit a pending unterminated line (or multi-line event) after this long without
    /// growth. `None` (the agent's behaviour): wait for its end.
    pub idle_flush: Option<Duration>,
    /// Bytes hashed for a file's fingerprint.
    pub fingerprint_bytes: usize,
    /// Polling period when inotify is unavailable (`minTimeBetweenFilePollsMillis`).
    pub poll_interval: Duration,
}

impl TailConfig {
    /// A flow tailing `file_pattern` with the defaults of the key table
    /// (`firetail_config::keys`), for tests, benches and examples: the daemon builds its
    /// `TailConfig` from the configuration, and a test in `src/daemon/flow.rs` holds this
    /// constructor equal to what it builds for a flow that sets no key.
    pub fn new(flow_id: &str, file_pattern: &str, framing: FramingConfig) -> TailConfig {
        TailConfig {
            flow_id: flow_id.to_owned(),
            file_pattern: file_pattern.to_owned(),
            framing,
            initial_position: InitialPosition::EndOfFile,
            max_open_files: 1024,
            max_in_flight_bytes: 2 * 1024 * 1024,
            reconcile_interval: Duration::from_secs(1),
            full_scan_interval: Duration::from_secs(10),
            idle_flush: None,
            fingerprint_bytes: 256,
            poll_interval: Duration::from_millis(100),
        }
    }
}

/// What the tailer reports about one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStatus {
    pub path: PathBuf,
    pub file: FileId,
    /// Size at the last look.
    pub size: u64,
    /// The checkpoint: every byte before it was acknowledged. `size - acked_offset` is
    /// "bytes behind".
    pub acked_offset: u64,
    /// Every byte before it was read.
    pub read_offset: u64,
    pub open: bool,
    /// The file no longer matches the pattern (rotated away or deleted) and is drained.
    pub rotated_away: bool,
}

/// What the tailer reports about its flow, published on a `watch` channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowTailStatus {
    pub files: Vec<FileStatus>,
    pub records_read: u64,
    pub bytes_read: u64,
    /// Bytes read and not yet acknowledged.
    pub bytes_in_flight: u64,
    pub records_truncated: u64,
    pub bytes_discarded: u64,
    /// True while reading is paused on `max_in_flight_bytes`.
    pub paused: bool,
}
