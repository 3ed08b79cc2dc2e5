//! `firetail plan`: streams or shards, requests per second and monthly ingestion cost of a
//! fleet, with and without aggregation (the arithmetic is in `crate::plan`).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::plan::{plan, render, PlanInput};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Web servers, each running firetail.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    servers: u64,
    /// Lines each server writes per second (average).
    #[arg(long)]
    lines_per_second: f64,
    /// Bytes per line, newline included (the generator's combined lines: about 252).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_024_000))]
    line_bytes: u64,
    /// AWS region: sets the stream quota (2,000 requests, 500,000 records, 5 MiB/s in
    /// us-east-1, us-west-2, eu-west-1; 1,000, 100,000, 1 MiB/s elsewhere) and the prices.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// The flows' maxBufferAgeMillis (or firetail.lingerMillis in low-latency mode).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=900_000))]
    buffer_age_millis: u64,
    /// aggregatedRecordSizeBytes for the aggregated column (Firehose's record limit is
    /// 1,024,000).
    #[arg(long, default_value_t = 1_024_000, value_parser = clap::value_parser!(u64).range(1..=1_024_000))]
    aggregated_record_bytes: u64,
}

pub fn run(args: PlanArgs) -> ExitCode {
    if !(args.lines_per_second.is_finite() && args.lines_per_second >= 0.0) {
        eprintln!("firetail plan: --lines-per-second must be a number >= 0");
        return ExitCode::from(2);
    }
    let input = PlanInput {
        servers: args.servers,
        lines_per_second: args.lines_per_second,
        line_bytes: args.line_bytes,
        region: args.region,
        buffer_age: Duration::from_millis(args.buffer_age_millis),
        aggregated_record_bytes: args.aggregated_record_bytes,
    };
    print!("{}", render(&input, &plan(&input)));
    ExitCode::SUCCESS
}
