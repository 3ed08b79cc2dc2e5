//! The crate's error type: everything that can stop the server from starting or running.
//!
//! Errors returned to Firehose clients are not here: they are [`crate::api::ApiError`] values,
//! rendered as AWS JSON error bodies.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the local endpoint could not be configured, started or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A fault or latency flag did not parse.
    #[error("invalid --{flag} value {value:?}: {reason}")]
    InvalidArg {
        /// The flag's long name, without dashes.
        flag: &'static str,
        /// What the user typed.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The output directory could not be created.
    #[error("cannot create output directory {path}: {source}")]
    OutputDir {
        /// The directory.
        path: PathBuf,
        /// The file system error.
        source: std::io::Error,
    },
    /// The record log file could not be opened.
    #[error("cannot open record log {path}: {source}")]
    RecordLog {
        /// The JSONL file.
        path: PathBuf,
        /// The file system error.
        source: std::io::Error,
    },
    /// Waiting for ctrl-c failed.
    #[error("cannot wait for ctrl-c: {0}")]
    Signal(std::io::Error),
}
