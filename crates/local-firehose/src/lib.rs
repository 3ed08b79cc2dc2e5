//! A local Amazon Kinesis Data Firehose endpoint for demos and tests.
//!
//! It speaks the Firehose API (AWS JSON 1.1 over `POST /`, any SigV4 credentials), enforces the
//! service's limits and, when configured, its per-stream throughput quotas, writes delivered
//! records in Firehose's S3 object layout under a directory,
//! and misbehaves on purpose: throttling, per-record partial failures, 500s, connection resets,
//! latency and outages, all seeded. Every accepted record is logged so a test can tell exactly
//! what was delivered.
//!
//! # Layout
//! - [`options`]: CLI flags, [`Options`] and the [`Faults`] plan.
//! - [`api`]: operation names, AWS JSON error bodies, stream name rules.
//! - [`batch`]: the hot path, parsing and decoding `PutRecord`/`PutRecordBatch` bodies.
//! - [`kinesis`]: Kinesis Data Streams' `PutRecords`, for `kinesisStream` flows.
//! - `faults`: seeded per-call and per-record fault decisions.
//! - [`quota`]: per-stream requests/records/bytes-per-second quotas (off by default).
//! - `streams`: stream configuration, buffers and the control-plane operations.
//! - [`delivery`]: object naming and atomic writes, on one writer thread.
//! - [`opensearch`]: the Amazon OpenSearch Service destination (bulk indexing, index
//!   rotation, retries, S3 backup of failed documents).
//! - `record_log`: the in-memory and JSONL log of accepted records.
//! - [`stats`]: counters behind `GET /stats`.
//! - `server`: HTTP serving, routing, body limits and the [`Server`] handle.
//!
//! ```no_run
//! # async fn demo() -> Result<(), firetail_local_firehose::Error> {
//! let server = firetail_local_firehose::start(Default::default()).await?;
//! println!("point the SDK at {}", server.endpoint_url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod batch;
pub mod delivery;
mod error;
mod faults;
#[doc(hidden)]
pub mod fuzzing;
pub mod kinesis;
pub mod opensearch;
pub mod options;
pub mod quota;
mod record_log;
mod server;
pub mod stats;
mod streams;

pub use error::Error;
pub use options::{Faults, Latency, LocalFirehoseArgs, Options, Outage};
pub use quota::Quota;
pub use record_log::{AcceptedRecord, Outcome};
pub use server::{run, start, Server};
pub use stats::Stats;
pub use streams::{Compression, StreamConfig};
