//! End-to-end tests: the server started in-process, driven by the official SDK and by raw HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod delivery;
mod faults;
mod kinesis;
mod limits;
mod opensearch;
mod operations;
mod raw_http;
