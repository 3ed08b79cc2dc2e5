//! Configuration: the CLI flags ([`LocalFirehoseArgs`]), their programmatic form ([`Options`])
//! and the fault plan ([`Faults`]).
//!
//! Invariants: every rate in a [`Faults`] is within `0.0..=1.0` once it went through
//! [`Options::from_args`]; outage windows are measured from the moment the server started.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::quota::Quota;

/// The default listen address: a loopback port no AWS tool uses.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4573";
/// The default output directory for delivered objects.
pub const DEFAULT_DIR: &str = "./local-firehose-output";
/// The bucket auto-created streams deliver to.
pub const AUTO_CREATE_BUCKET: &str = "local-firehose";
/// How many bytes of record data the in-memory log keeps by default (metadata is always kept).
pub const DEFAULT_MEMORY_LOG_CAP: usize = 256 << 20;
/// The largest request body read; anything bigger is refused with 413 before being buffered.
///
/// 4 MiB of decoded data is 5.34 MiB of base64 plus JSON framing, so this leaves room for every
/// request that could be valid while keeping memory bounded.
pub const DEFAULT_MAX_BODY: usize = 8 << 20;

/// The `local-firehose` subcommand's flags.
#[derive(clap::Args, Debug, Clone)]
pub struct LocalFirehoseArgs {
    /// Address to listen on.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Directory that receives `<bucket>/<prefix>YYYY/MM/DD/HH/<object>` files.
    #[arg(long, default_value = DEFAULT_DIR)]
    pub dir: PathBuf,
    /// Create unknown streams on first PutRecord/PutRecordBatch (bucket `local-firehose`,
    /// 1 MiB / 1 s buffering), and unknown Kinesis data streams on first PutRecords (4 shards).
    /// Without it, an unknown stream is ResourceNotFoundException.
    #[arg(long)]
    pub auto_create: bool,
    /// Count and drop records instead of buffering and writing them (for benchmarks); applies
    /// to Firehose and Kinesis records alike.
    #[arg(long)]
    pub discard: bool,
    /// Probability that a data call fails whole with 503 ServiceUnavailableException (Kinesis
    /// PutRecords: 400 ProvisionedThroughputExceededException).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub throttle_rate: f64,
    /// Probability that each record of a PutRecordBatch or PutRecords fails on its own.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub partial_failure_rate: f64,
    /// Probability that a data call fails whole with 500 InternalFailure.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub error_rate: f64,
    /// Probability that a data call's connection is closed without an answer (half of those
    /// after delivering the records).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub reset_rate: f64,
    /// Added latency: `50ms`, `uniform:10ms..200ms` or `lognormal:median=50ms,p99=500ms`.
    #[arg(long, default_value = "0ms", value_parser = Latency::parse)]
    pub latency: Latency,
    /// Refuse everything with 503 between START and END seconds after start (repeatable).
    #[arg(long = "outage", value_parser = Outage::parse)]
    pub outages: Vec<Outage>,
    /// Seed of the fault generator, for reproducible runs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Append one JSON line per accepted record (stream, request id, index, length, sha256).
    #[arg(long)]
    pub record_log: Option<PathBuf>,
    /// Also write each record's data (base64) to the record log.
    #[arg(long, requires = "record_log")]
    pub record_log_data: bool,
    /// Flush the record log after every request (for latency measurements: a reader sees
    /// each record as it is accepted; otherwise an 8 KiB buffer holds it back).
    #[arg(long, requires = "record_log")]
    pub record_log_flush: bool,
    /// Bytes of record data kept in memory for inspection; records beyond keep metadata only.
    #[arg(long, default_value_t = 64 << 20)]
    pub memory_log_cap: usize,
    /// The OpenSearch node (`http://127.0.0.1:9200`) that every domain ARN of an OpenSearch
    /// destination stands for.
    #[arg(long, value_name = "URL")]
    pub opensearch_url: Option<String>,
    /// Per-stream quota: data calls per second (off unless set). A call over any quota is
    /// refused whole with 503 ServiceUnavailableException, as Firehose does. The real
    /// Direct PUT quotas: 2000 in us-east-1, us-west-2, eu-west-1; 1000 elsewhere.
    #[arg(long, value_name = "N")]
    pub quota_requests: Option<f64>,
    /// Per-stream quota: records per second (real: 500000 / 100000).
    #[arg(long, value_name = "N")]
    pub quota_records: Option<f64>,
    /// Per-stream quota: bytes of record data per second (real: 5 MiB / 1 MiB).
    #[arg(long, value_name = "N")]
    pub quota_bytes: Option<f64>,
    /// How much unused quota a stream keeps for a burst: this window's worth.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub quota_window: Duration,
    /// Admit a call only if all of it fits in the quota left (default: while the stream is
    /// not over its quota, the call that crosses it passing).
    #[arg(long)]
    pub quota_strict: bool,
}

/// The server's programmatic configuration. `Default` is a quiet, fault-free server on an
/// ephemeral loopback port.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to bind; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Root directory of the simulated S3 buckets.
    pub dir: PathBuf,
    /// Create unknown streams on first use.
    pub auto_create: bool,
    /// Count and drop accepted records.
    pub discard: bool,
    /// The fault plan.
    pub faults: Faults,
    /// Seed of the fault generator.
    pub seed: u64,
    /// JSONL file receiving one line per accepted record.
    pub record_log: Option<PathBuf>,
    /// Whether the JSONL lines carry the record data too.
    pub record_log_data: bool,
    /// Whether the JSONL file is flushed after every request.
    pub record_log_flush: bool,
    /// Bytes of record data the in-memory log keeps.
    pub memory_log_cap: usize,
    /// Largest request body accepted.
    pub max_body: usize,
    /// The node OpenSearch destinations index into, when they name a domain ARN.
    pub opensearch_url: Option<String>,
    /// Per-stream throughput quotas (off by default).
    pub quota: Quota,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir: PathBuf::from(DEFAULT_DIR),
            auto_create: false,
            discard: false,
            faults: Faults::default(),
            seed: 0,
            record_log: None,
            record_log_data: false,
            record_log_flush: false,
            memory_log_cap: DEFAULT_MEMORY_LOG_CAP,
            max_body: DEFAULT_MAX_BODY,
            opensearch_url: None,
            quota: Quota::default(),
        }
    }
}

impl Options {
    /// Builds options from the CLI flags, checking what clap could not.
    pub fn from_args(a: &LocalFirehoseArgs) -> Result<Self, Error> {
        let faults = Faults {
            throttle_rate: a.throttle_rate,
            partial_failure_rate: a.partial_failure_rate,
            error_rate: a.error_rate,
            reset_rate: a.reset_rate,
            latency: a.latency.clone(),
            outages: a.outages.clone(),
        };
        faults.validate()?;
        let quota = Quota {
            requests_per_sec: a.quota_requests,
            records_per_sec: a.quota_records,
            bytes_per_sec: a.quota_bytes,
            window: a.quota_window,
            strict: a.quota_strict,
        };
        quota.validate()?;
        Ok(Options {
            listen: a.listen,
            dir: a.dir.clone(),
            auto_create: a.auto_create,
            discard: a.discard,
            faults,
            seed: a.seed,
            record_log: a.record_log.clone(),
            record_log_data: a.record_log_data,
            record_log_flush: a.record_log_flush,
            memory_log_cap: a.memory_log_cap,
            max_body: DEFAULT_MAX_BODY,
            opensearch_url: a.opensearch_url.clone(),
            quota,
        })
    }
}

/// What goes wrong on purpose. Rates are probabilities in `0.0..=1.0`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Whole data call refused with 503 ServiceUnavailableException.
    pub throttle_rate: f64,
    /// Each PutRecordBatch record fails independently (not delivered).
    pub partial_failure_rate: f64,
    /// Whole data call fails with 500 InternalFailure (nothing delivered).
    pub error_rate: f64,
    /// Connection closed after reading the request, without an answer.
    pub reset_rate: f64,
    /// Delay added before answering any API call.
    pub latency: Latency,
    /// Windows during which every API call gets 503.
    pub outages: Vec<Outage>,
}

impl Faults {
    /// Checks that rates are probabilities and that the whole-call rates do not exceed 1 together.
    pub fn validate(&self) -> Result<(), Error> {
        let rates = [
            ("throttle-rate", self.throttle_rate),
            ("partial-failure-rate", self.partial_failure_rate),
            ("error-rate", self.error_rate),
            ("reset-rate", self.reset_rate),
        ];
        for (flag, rate) in rates {
            check_rate(flag, rate)?;
        }
        let whole_call = self.throttle_rate + self.error_rate + self.reset_rate;
        if whole_call > 1.0 + f64::EPSILON {
            return Err(Error::InvalidArg {
                flag: "throttle-rate",
                value: format!("{whole_call}"),
                reason: "throttle, error and reset rates add up to more than 1".into(),
            });
        }
        Ok(())
    }
}

fn check_rate(flag: &'static str, rate: f64) -> Result<(), Error> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(Error::InvalidArg {
            flag,
            value: rate.to_string(),
            reason: "must be a probability between 0 and 1".into(),
        })
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err("must be a probability between 0 and 1".into())
    }
}

/// Added response latency.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Latency {
    /// No delay.
    #[default]
    None,
    /// Always this long.
    Fixed(Duration),
    /// Uniform between the two bounds (inclusive).
    Uniform(Duration, Duration),
    /// Log-normal with this median and 99th percentile.
    LogNormal {
        /// 50th percentile.
        median: Duration,
        /// 99th percentile.
        p99: Duration,
    },
}

impl Latency {
    /// Parses `50ms`, `uniform:10ms..200ms` or `lognormal:median=50ms,p99=500ms`.
    pub fn parse(s: &str) -> Result<Latency, String> {
        let s = s.trim();
        if let Some(range) = s.strip_prefix("uniform:") {
            let (lo, hi) = range
                .split_once("..")
                .ok_or_else(|| format!("expected uniform:MIN..MAX, got {s:?}"))?;
            let (lo, hi) = (parse_duration(lo)?, parse_duration(hi)?);
            if lo > hi {
                return Err(format!("uniform minimum {lo:?} exceeds maximum {hi:?}"));
            }
            return Ok(Latency::Uniform(lo, hi));
        }
        if let Some(params) = s.strip_prefix("lognormal:") {
            return parse_lognormal(params);
        }
        let fixed = parse_duration(s)?;
        Ok(if fixed.is_zero() {
            Latency::None
        } else {
            Latency::Fixed(fixed)
        })
    }
}

fn parse_lognormal(params: &str) -> Result<Latency, String> {
    let (mut median, mut p99) = (None, None);
    for part in params.split(',') {
        match part.trim().split_once('=') {
            Some(("median", v)) => median = Some(parse_duration(v)?),
            Some(("p99", v)) => p99 = Some(parse_duration(v)?),
            _ => return Err(format!("expected median=..,p99=.., got {part:?}")),
        }
    }
    let (Some(median), Some(p99)) = (median, p99) else {
        return Err("lognormal needs both median= and p99=".into());
    };
    if median.is_zero() || p99 < median {
        return Err("lognormal needs 0 < median <= p99".into());
    }
    Ok(Latency::LogNormal { median, p99 })
}

/// Parses `250us`, `50ms`, `2s` or `1.5s`; a bare number means milliseconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("bad duration {s:?}: expected e.g. 50ms"))?;
    let seconds = match unit {
        "us" | "µs" => value / 1e6,
        "" | "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("bad duration unit {unit:?} in {s:?}")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("bad duration {s:?}: {e}"))
}

/// A window, in time since the server started, during which every API call gets 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// Start of the window.
    pub start: Duration,
    /// End of the window (exclusive).
    pub end: Duration,
}

impl Outage {
    /// An outage that never ends, for tests that switch it off with [`crate::Server::set_faults`].
    pub fn indefinite() -> Outage {
        Outage {
            start: Duration::ZERO,
            end: Duration::MAX,
        }
    }

    /// Whether `since_start` falls inside the window.
    pub fn covers(&self, since_start: Duration) -> bool {
        self.start <= since_start && since_start < self.end
    }

    /// Parses `START..END` in seconds (fractions allowed), e.g. `10..25`.
    pub fn parse(s: &str) -> Result<Outage, String> {
        let (start, end) = s
            .split_once("..")
            .ok_or_else(|| format!("expected START..END seconds, got {s:?}"))?;
        let seconds = |v: &str| -> Result<Duration, String> {
            let secs: f64 = v
                .trim()
                .parse()
                .map_err(|_| format!("bad seconds {v:?} in outage {s:?}"))?;
            Duration::try_from_secs_f64(secs).map_err(|e| format!("bad seconds {v:?}: {e}"))
        };
        let (start, end) = (seconds(start)?, seconds(end)?);
        if end <= start {
            return Err(format!("outage {s:?} ends before it starts"));
        }
        Ok(Outage { start, end })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("50ms"), Ok(Duration::from_millis(50)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("20"), Ok(Duration::from_millis(20)));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("ms").is_err());
    }

    #[test]
    fn latency_forms_parse() {
        assert_eq!(Latency::parse("0"), Ok(Latency::None));
        assert_eq!(
            Latency::parse("50ms"),
            Ok(Latency::Fixed(Duration::from_millis(50)))
        );
        assert_eq!(
            Latency::parse("uniform:10ms..200ms"),
            Ok(Latency::Uniform(
                Duration::from_millis(10),
                Duration::from_millis(200)
            ))
        );
        assert_eq!(
            Latency::parse("lognormal:median=50ms,p99=500ms"),
            Ok(Latency::LogNormal {
                median: Duration::from_millis(50),
                p99: Duration::from_millis(500)
            })
        );
        assert!(Latency::parse("uniform:200ms..10ms").is_err());
        assert!(Latency::parse("lognormal:median=50ms").is_err());
    }

    #[test]
    fn outages_parse_and_cover() {
        let o = Outage::parse("10..25.5").unwrap();
        assert!(!o.covers(Duration::from_secs(9)));
        assert!(o.covers(Duration::from_secs(10)));
        assert!(o.covers(Duration::from_secs(25)));
        assert!(!o.covers(Duration::from_millis(25_500)));
        assert!(Outage::parse("5..5").is_err());
        assert!(Outage::parse("5").is_err());
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: LocalFirehoseArgs,
    }

    #[test]
    fn cli_flags_become_options() {
        use clap::Parser;
        let cli = Cli::try_parse_from([
            "lf",
            "--auto-create",
            "--throttle-rate",
            "0.1",
            "--partial-failure-rate",
            "0.05",
            "--latency",
            "uniform:1ms..2ms",
            "--outage",
            "10..20",
            "--outage",
            "30..31",
            "--seed",
            "9",
        ])
        .unwrap();
        let opts = Options::from_args(&cli.args).unwrap();
        assert!(opts.auto_create && !opts.discard);
        assert_eq!(opts.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(opts.faults.throttle_rate, 0.1);
        assert_eq!(opts.faults.outages.len(), 2);
        assert_eq!(opts.seed, 9);
        assert!(!opts.quota.is_enabled());
        let quoted = Cli::try_parse_from([
            "lf",
            "--quota-requests",
            "200",
            "--quota-bytes",
            "524288",
            "--quota-window",
            "2s",
        ])
        .unwrap();
        let quota = Options::from_args(&quoted.args).unwrap().quota;
        assert_eq!(quota.requests_per_sec, Some(200.0));
        assert_eq!(quota.records_per_sec, None);
        assert_eq!(quota.window, Duration::from_secs(2));
        let zero = Cli::try_parse_from(["lf", "--quota-records", "0"]).unwrap();
        assert!(Options::from_args(&zero.args).is_err());
        assert!(Cli::try_parse_from(["lf", "--error-rate", "2"]).is_err());
        assert!(Cli::try_parse_from(["lf", "--record-log-data"]).is_err());
        let too_much =
            Cli::try_parse_from(["lf", "--error-rate", "0.7", "--reset-rate", "0.7"]).unwrap();
        assert!(Options::from_args(&too_much.args).is_err());
    }

    #[test]
    fn whole_call_rates_must_fit_in_one() {
        let f = Faults {
            throttle_rate: 0.6,
            error_rate: 0.6,
            ..Faults::default()
        };
        assert!(f.validate().is_err());
        assert!(check_rate("error-rate", 1.5).is_err());
    }
}
