//! The tailer's error type: every variant names the path or key it is about.

use std::path::PathBuf;

use crate::frame::FrameError;

/// Errors that stop a flow's tailer or the checkpoint store. Errors on one file are
/// logged and retried by the tailer, not returned.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("checkpoint file {path}: {source}")]
    CheckpointIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("checkpoint file {path} is not valid: {source}")]
    CheckpointCorrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("checkpoint file {path} has unsupported version {version}")]
    CheckpointVersion { path: PathBuf, version: u32 },
    #[error("framing: {0}")]
    Framing(#[from] FrameError),
    #[error("filePattern {pattern:?}: {reason}")]
    Pattern { pattern: String, reason: String },
}
