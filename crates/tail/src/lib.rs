//! Discover, tail and frame log files; turn acknowledgements into checkpoints.
//!
//! (Module layout is being written; see ARCHITECTURE.md.)

pub use firetail_record::{Acker, FileId, Record, Span};
