//! `firetail plan`: how many streams or shards a fleet needs, how many requests a second it
//! makes, and what its ingestion costs a month, with and without aggregation
//! (`aggregatedRecordSizeBytes`). The arithmetic behind docs/scaling.md.
//!
//! The model: every server writes `lines_per_second` lines of `line_bytes` bytes (newline
//! included) and ships them in batches that close at 500 records, 4 MiB, or the buffer age
//! (or the linger of the low-latency mode), whichever comes first (the sink's rule); with aggregation, lines are packed into
//! records of up to `aggregated_record_bytes`. Firehose bills each record rounded up to
//! 5 KB; a Kinesis shard takes 1,000 records and 1 MiB a second, and bills PUT payload
//! units of 25 KB per record.
//!
//! Prices are a dated table (`PRICES`), not a live lookup: check the AWS pricing pages
//! before quoting them.

use std::fmt::Write as _;
use std::time::Duration;

/// Firehose bills each record rounded up to this many bytes.
pub const FIREHOSE_BILLING_UNIT: f64 = 5.0 * 1024.0;
/// Kinesis bills PUT payload units of this many bytes per record (rounded up).
pub const KINESIS_PAYLOAD_UNIT: f64 = 25.0 * 1024.0;
/// A Kinesis shard's write limits.
pub const SHARD_RECORDS_PER_SEC: f64 = 1000.0;
pub const SHARD_BYTES_PER_SEC: f64 = 1024.0 * 1024.0;
/// Hours in a billing month, as AWS's calculators count.
pub const HOURS_PER_MONTH: f64 = 730.0;
/// AWS bills "GB" of 2^30 bytes.
const GB: f64 = 1024.0 * 1024.0 * 1024.0;
const RECORDS_PER_REQUEST: f64 = 500.0;
const BYTES_PER_REQUEST: f64 = 4.0 * 1024.0 * 1024.0;

/// A Direct PUT stream's per-second quotas in a region.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StreamQuota {
    pub requests: f64,
    pub records: f64,
    pub bytes: f64,
}

/// The Direct PUT quota of `region` (Firehose's limits page: 2,000 requests, 500,000
/// records and 5 MiB a second in us-east-1, us-west-2 and eu-west-1; 1,000, 100,000 and
/// 1 MiB elsewhere). They can be raised on request, proportionally.
pub fn stream_quota(region: &str) -> StreamQuota {
    if matches!(region, "us-east-1" | "us-west-2" | "eu-west-1") {
        StreamQuota {
            requests: 2000.0,
            records: 500_000.0,
            bytes: 5.0 * 1024.0 * 1024.0,
        }
    } else {
        StreamQuota {
            requests: 1000.0,
            records: 100_000.0,
            bytes: 1024.0 * 1024.0,
        }
    }
}

/// Published on-demand prices of one region, in USD.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prices {
    pub region: &'static str,
    /// Firehose Direct PUT ingestion per GB (first 500 TB a month), records rounded up
    /// to 5 KB.
    pub firehose_per_gb: f64,
    /// Kinesis Data Streams, provisioned: per shard-hour ...
    pub kinesis_shard_hour: f64,
    /// ... and per million 25 KB PUT payload units.
    pub kinesis_per_million_units: f64,
}

/// When the price table was last checked.
pub const PRICES_AS_OF: &str = "2026-12-04";

/// The price table, as of [`PRICES_AS_OF`]: the AWS pricing pages state the 5 KB rounding
/// (Firehose) and 25 KB payload units (Kinesis); the per-unit figures are the us-east-1
/// list prices those pages give and that AWS's own examples and many cost guides quote.
/// Other regions differ and are not in the table.
pub const PRICES: &[Prices] = &[Prices {
    region: "us-east-1",
    firehose_per_gb: 0.029,
    kinesis_shard_hour: 0.015,
    kinesis_per_million_units: 0.014,
}];

/// What `firetail plan` is asked.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanInput {
    pub servers: u64,
    pub lines_per_second: f64,
    pub line_bytes: u64,
    pub region: String,
    /// `maxBufferAgeMillis` of the flows.
    pub buffer_age: Duration,
    /// `aggregatedRecordSizeBytes` for the "with aggregation" column.
    pub aggregated_record_bytes: u64,
}

/// One way of shipping (one record per line, or aggregated).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    /// Calls per second for the whole fleet.
    pub requests_per_sec: f64,
    pub records_per_sec: f64,
    pub bytes_per_sec: f64,
    /// Average record size in bytes.
    pub record_bytes: f64,
    /// Firehose streams needed at the region's default quota, and the quota that binds.
    pub streams: u64,
    pub binding_quota: &'static str,
    /// Bytes Firehose bills a month (records rounded up to 5 KB).
    pub billed_gb_per_month: f64,
}

/// The answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub quota: StreamQuota,
    pub per_line: Shape,
    pub aggregated: Shape,
    /// Kinesis shards for one record per line (firetail aggregates only for Firehose).
    pub shards: u64,
    pub kinesis_payload_units_per_sec: f64,
    pub prices: Option<Prices>,
}

/// Does the arithmetic.
pub fn plan(input: &PlanInput) -> Plan {
    let quota = stream_quota(&input.region);
    let per_line = shape(input, input.line_bytes as f64, &quota);
    let aggregated = shape(input, input.aggregated_record_bytes.max(1) as f64, &quota);
    let shards = (per_line.bytes_per_sec / SHARD_BYTES_PER_SEC)
        .max(per_line.records_per_sec / SHARD_RECORDS_PER_SEC)
        .ceil()
        .max(1.0) as u64;
    let units_per_record = (per_line.record_bytes / KINESIS_PAYLOAD_UNIT)
        .ceil()
        .max(1.0);
    Plan {
        quota,
        per_line,
        aggregated,
        shards,
        kinesis_payload_units_per_sec: per_line.records_per_sec * units_per_record,
        prices: PRICES.iter().find(|p| p.region == input.region).copied(),
    }
}

/// One server's batches when records are at most `record_cap` bytes (a line per record
/// when it is the line size), scaled to the fleet.
fn shape(input: &PlanInput, record_cap: f64, quota: &StreamQuota) -> Shape {
    let line = input.line_bytes.max(1) as f64;
    let bytes_per_sec_each = input.lines_per_second.max(0.0) * line;
    let lines_per_record = (record_cap / line).floor().max(1.0);
    let record_bytes_full = lines_per_record * line;
    // A batch closes at the buffer age, 4 MiB or 500 records, whichever comes first, and
    // holds at least a line: sparse lines go one per call.
    let age = input.buffer_age.as_secs_f64().max(0.001);
    let age = if input.lines_per_second > 0.0 {
        age.max(1.0 / input.lines_per_second)
    } else {
        age
    };
    let fill_secs = if bytes_per_sec_each > 0.0 {
        (BYTES_PER_REQUEST / bytes_per_sec_each)
            .min(RECORDS_PER_REQUEST * record_bytes_full / bytes_per_sec_each)
    } else {
        f64::INFINITY
    };
    let batch_secs = age.min(fill_secs);
    let batch_bytes = bytes_per_sec_each * batch_secs;
    let records_per_batch = if batch_bytes > 0.0 {
        (batch_bytes / record_bytes_full).ceil()
    } else {
        0.0
    };
    let record_bytes = if records_per_batch > 0.0 {
        batch_bytes / records_per_batch
    } else {
        0.0
    };
    let servers = input.servers as f64;
    let requests_per_sec = if batch_bytes > 0.0 {
        servers / batch_secs
    } else {
        0.0
    };
    let records_per_sec = requests_per_sec * records_per_batch;
    let bytes_per_sec = servers * bytes_per_sec_each;
    let needs = [
        ("requests", requests_per_sec / quota.requests),
        ("records", records_per_sec / quota.records),
        ("bytes", bytes_per_sec / quota.bytes),
    ];
    let (binding_quota, most) =
        needs
            .iter()
            .copied()
            .fold(("bytes", 0.0f64), |a, b| if b.1 > a.1 { b } else { a });
    let billed_record =
        (record_bytes / FIREHOSE_BILLING_UNIT).ceil().max(1.0) * FIREHOSE_BILLING_UNIT;
    Shape {
        requests_per_sec,
        records_per_sec,
        bytes_per_sec,
        record_bytes,
        streams: most.ceil().max(1.0) as u64,
        binding_quota,
        billed_gb_per_month: records_per_sec * billed_record * HOURS_PER_MONTH * 3600.0 / GB,
    }
}

/// The plan as `firetail plan` prints it.
pub fn render(input: &PlanInput, plan: &Plan) -> String {
    let mut out = String::new();
    let q = plan.quota;
    let _ = writeln!(
        out,
        "fleet: {} servers x {} lines/s x {} B = {}/s ({} lines/s); buffer age {} ms",
        input.servers,
        input.lines_per_second,
        input.line_bytes,
        human(plan.per_line.bytes_per_sec),
        round(input.servers as f64 * input.lines_per_second),
        input.buffer_age.as_millis()
    );
    let _ = writeln!(
        out,
        "Firehose Direct PUT quota per stream in {}: {} requests/s, {} records/s, {}/s",
        input.region,
        round(q.requests),
        round(q.records),
        human(q.bytes)
    );
    for (name, s) in [
        ("one record per line", &plan.per_line),
        (
            &*format!(
                "aggregated (aggregatedRecordSizeBytes {})",
                input.aggregated_record_bytes
            ),
            &plan.aggregated,
        ),
    ] {
        let _ = writeln!(
            out,
            "\n{name}:\n  requests/s {}  records/s {}  average record {} B\n  Firehose streams needed: {} (binding quota: {})\n  billed ingestion (records rounded up to 5 KB): {:.0} GB/month{}",
            round(s.requests_per_sec),
            round(s.records_per_sec),
            round(s.record_bytes),
            s.streams,
            s.binding_quota,
            s.billed_gb_per_month,
            match plan.prices {
                Some(p) => format!(" = ${:.2}/month", s.billed_gb_per_month * p.firehose_per_gb),
                None => String::new(),
            }
        );
    }
    let _ = writeln!(
        out,
        "\nKinesis Data Streams (one record per line): {} shards (1,000 records/s and 1 MiB/s each){}",
        plan.shards,
        match plan.prices {
            Some(p) => format!(
                " = ${:.2}/month ({:.2} shard-hours + {:.2} PUT payload units)",
                kinesis_monthly(plan, &p),
                plan.shards as f64 * HOURS_PER_MONTH * p.kinesis_shard_hour,
                plan.kinesis_payload_units_per_sec * HOURS_PER_MONTH * 3600.0 / 1e6
                    * p.kinesis_per_million_units
            ),
            None => String::new(),
        }
    );
    match plan.prices {
        Some(p) => {
            let _ = writeln!(
                out,
                "\nprices: {} list prices as of {PRICES_AS_OF}: Firehose ${}/GB (first 500 TB/month; cheaper tiers above), Kinesis ${}/shard-hour + ${}/million PUT payload units; check the AWS pricing pages",
                p.region, p.firehose_per_gb, p.kinesis_shard_hour, p.kinesis_per_million_units
            );
        }
        None => {
            let _ = writeln!(
                out,
                "\nno prices for {} in firetail's table (as of {PRICES_AS_OF}; it has {}): see the AWS pricing pages",
                input.region,
                PRICES.iter().map(|p| p.region).collect::<Vec<_>>().join(", ")
            );
        }
    }
    out
}

fn kinesis_monthly(plan: &Plan, p: &Prices) -> f64 {
    plan.shards as f64 * HOURS_PER_MONTH * p.kinesis_shard_hour
        + plan.kinesis_payload_units_per_sec * HOURS_PER_MONTH * 3600.0 / 1e6
            * p.kinesis_per_million_units
}

fn round(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn human(bytes_per_sec: f64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes_per_sec >= MIB {
        format!("{:.2} MiB", bytes_per_sec / MIB)
    } else {
        format!("{:.1} KiB", bytes_per_sec / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(servers: u64, rate: f64, bytes: u64, region: &str) -> PlanInput {
        PlanInput {
            servers,
            lines_per_second: rate,
            line_bytes: bytes,
            region: region.into(),
            buffer_age: Duration::from_secs(1),
            aggregated_record_bytes: 1_024_000,
        }
    }

    #[test]
    fn a_quiet_fleet_is_bound_by_requests_and_billed_5_kb_a_line() {
        // 200 servers x 100 lines/s x 250 B: 5 MB/s, one call a second each.
        let p = plan(&input(200, 100.0, 250, "us-east-1"));
        let s = p.per_line;
        assert_eq!(s.requests_per_sec, 200.0);
        assert_eq!(s.records_per_sec, 20_000.0);
        assert_eq!(s.bytes_per_sec, 5_000_000.0);
        assert_eq!((s.streams, s.binding_quota), (1, "bytes"));
        // Each 250-byte line is billed as 5 KB: 20.48 x the data.
        let data_gb = 5_000_000.0 * HOURS_PER_MONTH * 3600.0 / GB;
        assert!((s.billed_gb_per_month / data_gb - 5120.0 / 250.0).abs() < 1e-9);
        // Aggregated: one 25 KB record per call, billed as 25 KB: about the data.
        let a = p.aggregated;
        assert_eq!(a.records_per_sec, 200.0);
        assert!((a.billed_gb_per_month / data_gb - 1.024).abs() < 1e-9);
        // Kinesis: 20,000 records/s needs 20 shards (records bind, not the 4.8 MiB/s).
        assert_eq!(p.shards, 20);
        assert!(render(&input(200, 100.0, 250, "us-east-1"), &p).contains("$"));
    }

    #[test]
    fn a_busy_fleet_fills_batches_and_splits_across_streams() {
        // 1,000 servers x 2,000 lines/s x 250 B = 500 MB/s: batches fill at 500 records
        // (4 a second per server), bytes bind: 96 streams at 5 MiB/s.
        let p = plan(&input(1000, 2000.0, 250, "eu-west-1"));
        assert_eq!(p.per_line.requests_per_sec, 4000.0);
        assert_eq!(p.per_line.streams, 96);
        assert_eq!(p.per_line.binding_quota, "bytes");
        // Elsewhere the quota is a fifth: 477 streams.
        assert_eq!(
            plan(&input(1000, 2000.0, 250, "ap-south-1"))
                .per_line
                .streams,
            477
        );
        let text = render(
            &input(1, 1.0, 100, "ap-south-1"),
            &plan(&input(1, 1.0, 100, "ap-south-1")),
        );
        assert!(text.contains("no prices for ap-south-1"), "{text}");
    }

    #[test]
    fn a_low_latency_fleet_is_bound_by_requests() {
        // 5,000 quiet servers (10 lines/s) with a 20 ms linger send every line alone:
        // 50,000 calls/s, 25 streams by requests where 3 would carry the bytes.
        let mut i = input(5000, 10.0, 250, "us-east-1");
        i.buffer_age = Duration::from_millis(20);
        let p = plan(&i);
        assert_eq!(p.per_line.requests_per_sec, 50_000.0);
        assert_eq!(p.per_line.binding_quota, "requests");
        assert_eq!(p.per_line.streams, 25);
    }
}
