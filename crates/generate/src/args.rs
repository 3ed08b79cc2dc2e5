//! The `firetail generate` command line, as a clap `Args` struct the binary flattens into its
//! subcommand, plus the value parsers for rates, durations, sizes and times. Parsing only
//! checks syntax (clap reports those errors, exit 2); [`crate::GeneratorConfig::from_args`]
//! checks meaning (ranges, combinations) and returns [`crate::Error::InvalidArg`] (also exit 2).

use std::path::PathBuf;
use std::time::Duration;

use crate::line::Format;
use crate::output::RotateMode;

/// Lines per second, or as fast as possible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// No pacing: write as fast as the disk takes it.
    Max,
    /// Mean lines per second (the diurnal profile and incidents modulate it).
    PerSecond(f64),
}

/// Writes realistic Apache access logs at an exact rate, with real rotation.
#[derive(clap::Args, Debug, Clone)]
pub struct GenerateArgs {
    /// Output file, or `-` for stdout. With --vhosts N, a `{vhost}` in the path is replaced by
    /// each virtual host's name; without it, files are named `<stem>-<vhost>.<ext>`.
    #[arg(short = 'o', long, default_value = "access.log")]
    pub output: PathBuf,

    /// Log format.
    #[arg(long, value_enum, default_value_t = Format::Combined)]
    pub format: Format,

    /// Lines per second (1 to 200000 are paced to within 1% per second), or `max`.
    #[arg(long, default_value = "100", value_parser = parse_rate)]
    pub rate: Rate,

    /// Stop after this many lines.
    #[arg(long)]
    pub count: Option<u64>,

    /// Stop after this long (e.g. 30s, 5m, 1h30m, 250ms).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Seed for the random generator: the same seed (with --start-time and --count) gives the
    /// same bytes. Random when absent.
    #[arg(long)]
    pub seed: Option<u64>,

    /// Log time of the first line (RFC 3339, e.g. 2026-11-25T13:55:36Z, or Unix seconds).
    /// Timestamps then follow the simulated schedule instead of the wall clock.
    #[arg(long, value_parser = parse_time)]
    pub start_time: Option<i64>,

    /// With --rate max and --start-time: simulated lines per second for the timestamps.
    #[arg(long, default_value_t = 1000.0)]
    pub sim_rate: f64,

    /// Number of virtual hosts, each with its own site, clients and file.
    #[arg(long, default_value_t = 1)]
    pub vhosts: usize,

    /// Share of lines from crawlers and scanners (0 to 1).
    #[arg(long, default_value_t = 0.05)]
    pub bot_share: f64,

    /// Share of clients with IPv6 addresses (0 to 1). Opt-in: the Kinesis Agent's
    /// COMBINEDAPACHELOG pattern cannot match an IPv6 client.
    #[arg(long, default_value_t = 0.0)]
    pub ipv6_share: f64,

    /// Share of deliberately broken lines: truncated, garbage bytes, CRLF, empty (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub malformed_rate: f64,

    /// Share of lines with a multi-KiB URL or user agent (0 to 1).
    #[arg(long, default_value_t = 1e-4)]
    pub long_line_rate: f64,

    /// Peak-to-trough ratio of a daily traffic swell (1 = flat).
    #[arg(long)]
    pub diurnal_peak_ratio: Option<f64>,

    /// Length of one diurnal cycle.
    #[arg(long, value_parser = parse_duration, default_value = "24h")]
    pub diurnal_period: Duration,

    /// Start an incident (more 5xx, higher rate) this often.
    #[arg(long, value_parser = parse_duration)]
    pub incident_every: Option<Duration>,

    /// How long each incident lasts.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub incident_duration: Duration,

    /// Rate multiplier during an incident.
    #[arg(long, default_value_t = 2.0)]
    pub incident_rate_factor: f64,

    /// Rotate before a file would exceed this size (e.g. 10M, 512K, 1G, 100000).
    #[arg(long, value_parser = parse_size)]
    pub rotate_size: Option<u64>,

    /// Rotate at every multiple of this interval of log time (e.g. 1h, 1d, 5m).
    #[arg(long, value_parser = parse_duration)]
    pub rotate_interval: Option<Duration>,

    /// How to rotate: rename (log.1, log.2...), copytruncate, or dated (log-20261125...).
    #[arg(long, value_enum)]
    pub rotate_mode: Option<RotateMode>,

    /// Rotated files to keep; older ones are deleted (0 keeps all).
    #[arg(long, default_value_t = 5)]
    pub keep: usize,

    /// Print a Kinesis Agent agent.json for the files this command would write, and exit.
    #[arg(long)]
    pub print_agent_config: bool,

    /// Firehose delivery stream named in --print-agent-config.
    #[arg(long, default_value = "firetail-demo")]
    pub stream: String,

    /// Test aid: write a per-file sequence number (`seq0`, `seq1`...) as the `%u` user.
    #[arg(long)]
    pub sequence: bool,
}

/// Parses `max` or a positive number of lines per second.
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(Rate::Max);
    }
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of lines per second or `max`"))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(format!(
            "`{s}`: the rate must be a positive number or `max`"
        ));
    }
    Ok(Rate::PerSecond(v))
}

/// Parses durations such as `250ms`, `30s`, `5m`, `1h30m`, `1d`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration (try 250ms, 30s, 5m, 1h30m, 1d)");
    let t = s.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|_| bad());
    }
    let mut total = 0.0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let unit = &rest[digits..digits + unit_len];
        let scale = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[digits + unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// Parses byte sizes: `100000`, `512K`, `10M`, `1G` (binary multiples; `KiB`, `MB`... accepted).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not a size (try 100000, 512K, 10M, 1G)");
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if split == 0 {
        return Err(bad());
    }
    let n: u64 = t[..split].parse().map_err(|_| bad())?;
    let unit = t[split..].trim().to_ascii_lowercase();
    let scale: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(scale).ok_or_else(bad)
}

/// Parses an RFC 3339 time or Unix seconds into Unix milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<i64>() {
        return secs
            .checked_mul(1000)
            .ok_or_else(|| format!("`{s}` is out of range"));
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp_millis())
        .map_err(|e| format!("`{s}` is not an RFC 3339 time or Unix seconds: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("max"), Ok(Rate::Max));
        assert_eq!(parse_rate("1000"), Ok(Rate::PerSecond(1000.0)));
        assert_eq!(parse_rate("0.5"), Ok(Rate::PerSecond(0.5)));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("-3").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("inf").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("12"), Ok(Duration::from_secs(12)));
        for bad in ["", "s", "3x", "-5s", "1h-3m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100000"), Ok(100_000));
        assert_eq!(parse_size("512K"), Ok(512 * 1024));
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5T").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1795611912"), Ok(1_795_611_912_000));
        assert_eq!(parse_time("2026-11-25T13:05:12Z"), Ok(1_795_611_912_000));
        assert!(parse_time("yesterday").is_err());
    }
}
