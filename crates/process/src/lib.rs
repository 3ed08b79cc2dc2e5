//! The `dataProcessingOptions` stage of firetail: converters byte-exact with the Kinesis Agent.
//!
//! A [`Chain`] is built once per flow from the raw `dataProcessingOptions` JSON and then turns
//! each record (raw bytes including the trailing newline) into an [`Outcome`] plus, when
//! converted, the bytes to send. It is pure apart from the clock (ADDMETADATA `ts`) and the
//! instance metadata source (ADDEC2METADATA).
//!
//! # Layout
//! - [`chain`]: option parsing and the record pipeline.
//! - one module per option: [`singleline`], [`csv`], [`logtojson`] (with hand-written fast
//!   parsers in `logtojson::fast`), [`addmetadata`], [`ec2metadata`], [`addbrackets`].
//! - [`json`]: Jackson-identical JSON output.
//!
//! The Java semantics the converters rest on (regexes, UTF-8 decoding, `Double.toString`,
//! the coercion of option values, partition keys) live in `firetail_agent`, shared with the tailer and the
//! configuration.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod addbrackets;
pub mod addmetadata;
pub mod chain;
mod config;
pub mod csv;
pub mod ec2metadata;
pub mod json;
pub mod logtojson;
pub mod singleline;

pub use chain::{Chain, Clock, Outcome};
pub use config::ProcessConfigError;
pub use ec2metadata::{Ec2Metadata, InstanceMetadataSource};
