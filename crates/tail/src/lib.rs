//! Discover, tail and frame log files; turn acknowledgements into checkpoints.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod frame;

pub use firetail_record::{Acker, FileId, Record, Span};
