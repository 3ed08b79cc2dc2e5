//! The `dataProcessingOptions` stage of firetail: converters byte-exact with the Kinesis Agent.
//!
//! # Layout
//! - [`jregex`]: Java regex semantics on top of the `regex` crate.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod jregex;

pub use jregex::{JavaRegex, JavaRegexError};
