//! Discover, tail and frame log files; turn acknowledgements into checkpoints.
//!
//! (Module layout is being written; see ARCHITECTURE.md.)

pub mod record;

pub use record::{Acker, FileId, Record, Span};
