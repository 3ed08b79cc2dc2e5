//! The generator's error type. Every variant carries the value or path it is about, and
//! [`Error::exit_code`] tells the CLI which exit status to use: 2 for input the user can fix
//! by changing a flag (as clap does for parse errors), 1 for I/O failures at run time.

use std::path::PathBuf;

/// Everything that can stop a generator run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag value that parsed but makes no sense (or a combination of flags).
    #[error("invalid value for --{flag}: {reason}")]
    InvalidArg {
        /// The long flag name, without dashes.
        flag: &'static str,
        /// What is wrong with it, including the offending value.
        reason: String,
    },
    /// Opening or creating an output file failed.
    #[error("cannot open {path} for writing: {source}")]
    Open {
        /// The file we tried to open.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Writing lines failed (disk full, file size limit, directory deleted...). The file was
    /// cut back to its last complete line where that was possible.
    #[error("write to {path} failed after {lines_written} lines: {source}")]
    Write {
        /// The file being written (`-` for stdout).
        path: PathBuf,
        /// Lines that reached the file before the failure.
        lines_written: u64,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A rotation step (rename, copy, truncate, delete) failed.
    #[error("rotating {path} failed during {step}: {source}")]
    Rotate {
        /// The live file being rotated.
        path: PathBuf,
        /// Which step failed, e.g. `rename to access.log.1`.
        step: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The generator thread panicked (only from [`crate::spawn`]'s join handle users).
    #[error("generator thread panicked")]
    Panicked,
}

impl Error {
    /// The process exit status the CLI should use: 2 for bad input (like clap), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::InvalidArg { .. } => 2,
            Error::Open { .. } | Error::Write { .. } | Error::Rotate { .. } | Error::Panicked => 1,
        }
    }

    /// A write to stdout failed because the reader went away (`| head`): a normal end.
    pub fn is_broken_stdout(&self) -> bool {
        matches!(self, Error::Write { path, source, .. }
            if path.as_os_str() == "-" && source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    pub(crate) fn invalid(flag: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArg {
            flag,
            reason: reason.into(),
        }
    }
}
