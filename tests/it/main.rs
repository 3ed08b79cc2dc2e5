//! Integration tests: one binary, one module per area (ripgrep's layout).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

/// The test harness itself against moto: S3 bucket, delivery stream, PutRecordBatch.
mod moto_smoke;

/// Every Kinesis Agent vector through the preview code path.
mod vectors;

/// Importing the Kinesis Agent's SQLite checkpoints, then resuming from them.
mod migrate;
