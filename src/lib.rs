//! firetail: tail rotating log files and ship them to Amazon Kinesis Data Firehose or
//! Kinesis Data Streams, as a drop-in for the Kinesis Agent.
//!
//! # Layout
//!
//! The data path is cut into stages; each lives in its own crate or module and talks to
//! the next through typed channels (see ARCHITECTURE.md for the map):
//!
//! - `firetail_generate`: the simulated web server (access-log lines at a rate, rotation).
//! - `firetail_agent`: the Kinesis Agent's semantics every stage shares (Java regex, Java
//!   number text, value coercion, record truncation) and the AWS limits and error codes.
//! - `firetail_config`: `agent.json` as the Kinesis Agent reads it.
//! - `firetail_tail`: discover, tail, frame; acknowledgements to checkpoints.
//! - `firetail_process`: the `dataProcessingOptions` chain.
//! - `firetail_sink`: batch, send, retry; acknowledge what the destination accepted.
//! - [`daemon`]: wires one pipeline per flow and owns shutdown.
//! - [`telemetry`]: Prometheus metrics and health endpoints.
//! - `firetail_local_firehose`: a Firehose stand-in for demos and tests.
//! - [`cli`]: one module per subcommand.

pub mod agent_env;
pub mod aws;
pub mod cli;
pub mod cloudwatch;
pub mod daemon;
pub mod demo;
#[cfg(debug_assertions)]
pub mod fault;
pub mod heap;
pub mod imds;
pub mod logging;
pub mod migrate;
pub mod plan;
pub mod preview;
pub mod sandbox;
pub mod sd_notify;
pub mod setup;
pub mod telemetry;
