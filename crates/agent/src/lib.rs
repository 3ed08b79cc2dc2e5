//! The Amazon Kinesis Agent's semantics that firetail reproduces, and the AWS service
//! contracts the agent works within: one home for each, so configuration, processing,
//! tailing and sending cannot disagree about them.
//!
//! Everything here is pure (no I/O, no clock) apart from the regex step-limit counter,
//! [`log_gate`], which rate-limits its warning (and the other repeated warnings of the
//! stages that depend on this crate), and [`time::now_unix_millis`], the one wall-clock
//! read in Unix milliseconds that the stages share.
//!
//! # Layout
//! - [`jregex`]: Java `java.util.regex` semantics on the `regex` crate, with a
//!   backtracking engine (`fancy-regex`, bounded in steps) for the constructs that need one.
//! - [`java`]: Java's text for numbers and strings (`Double.toString`, `Long.decode`,
//!   `String.trim`); [`utf8`]: Java's UTF-8 decoding of record bytes.
//! - [`coerce`]: the agent's `Configuration` rules for reading a JSON value as a number,
//!   boolean or string, shared by agent.json and `dataProcessingOptions`.
//! - [`limits`]: the Firehose and Kinesis record, request and partition-key limits, and the
//!   agent's parser buffer sizes.
//! - [`codes`]: AWS error codes classed as throttle, transient or permanent.
//! - [`partition`]: Kinesis partition keys (`partitionKeyOption`).
//! - [`truncate`]: cutting a record to its limit with the flow's terminator.
//! - [`log_gate`]: at most one log line per interval for a condition that repeats.
//! - [`time`]: UTC calendar fields of an instant (the agent's timestamps, Apache's).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod codes;
pub mod coerce;
pub mod java;
pub mod jregex;
pub mod limits;
pub mod log_gate;
pub mod partition;
pub mod time;
pub mod truncate;
pub mod utf8;

pub use jregex::{JavaRegex, JavaRegexError};
pub use truncate::truncate_record;
