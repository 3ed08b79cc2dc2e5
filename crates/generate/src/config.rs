//! [`GeneratorConfig`]: the validated, programmatic form of [`GenerateArgs`]. The daemon and the
//! demo build one directly (or from args) and hand it to [`crate::spawn`]. Validation lives in
//! [`GeneratorConfig::from_args`] and [`GeneratorConfig::validate`]; nothing downstream
//! re-checks ranges.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::args::{GenerateArgs, Rate};
use crate::error::Error;
use crate::line::Realism;
use crate::output::{Progress, RotateHook, RotationPolicy};
use crate::schedule::{Diurnal, Incidents, RateProfile};

/// Names of the first virtual hosts; later ones are `site9`, `site10`...
const VHOST_NAMES: &[&str] = &["www", "shop", "blog", "api", "docs", "status", "m", "cdn"];
/// Upper bound on `--vhosts` (each costs a catalog and a client pool, a few MiB).
pub const MAX_VHOSTS: usize = 256;

/// Where one virtual host's lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Standard output (no rotation).
    Stdout,
    /// A file (rotated per the config's policy).
    File(PathBuf),
}

/// One simulated virtual host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualHost {
    /// Short name used in file names (`www`).
    pub name: String,
    /// Host name used in Referer URLs (`www.example.com`).
    pub host: String,
    /// Where its lines go.
    pub destination: Destination,
}

/// Everything a generator run needs.
#[derive(Clone)]
pub struct GeneratorConfig {
    /// The virtual hosts, each with its own site model and output.
    pub vhosts: Vec<VirtualHost>,
    /// Pacing.
    pub rate: Rate,
    /// Diurnal swell and incidents.
    pub profile: RateProfile,
    /// Traffic model knobs (the host name is set per virtual host).
    pub realism: Realism,
    /// Rotation for file outputs.
    pub rotation: Option<RotationPolicy>,
    /// Seed of every random choice.
    pub seed: u64,
    /// Stop after this many lines.
    pub count: Option<u64>,
    /// Stop after this long (schedule time when paced, wall time with `Rate::Max`).
    pub duration: Option<Duration>,
    /// Log time of the first line, Unix ms; `None` follows the wall clock.
    pub start_time_ms: Option<i64>,
    /// With `Rate::Max` and a start time: simulated lines per second for timestamps.
    pub sim_rate: f64,
    /// Shared counters (lines and bytes written, rotations), e.g. for a metrics exporter.
    pub progress: Arc<Progress>,
    /// Called after each rotation (tests pace a reader with it).
    pub on_rotate: Option<RotateHook>,
    /// Draw a live progress line on stderr.
    pub show_progress: bool,
}

impl fmt::Debug for GeneratorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratorConfig")
            .field("vhosts", &self.vhosts)
            .field("rate", &self.rate)
            .field("profile", &self.profile)
            .field("realism", &self.realism)
            .field("rotation", &self.rotation)
            .field("seed", &self.seed)
            .field("count", &self.count)
            .field("duration", &self.duration)
            .field("start_time_ms", &self.start_time_ms)
            .field("sim_rate", &self.sim_rate)
            .field("on_rotate", &self.on_rotate.is_some())
            .field("show_progress", &self.show_progress)
            .finish()
    }
}

impl GeneratorConfig {
    /// A config writing `path` (or stdout for `-`) at `rate`, with every other setting at its
    /// command-line default and seed 0.
    pub fn new(path: impl Into<PathBuf>, rate: Rate) -> Self {
        let path = path.into();
        GeneratorConfig {
            vhosts: virtual_hosts(&path, 1),
            rate,
            profile: RateProfile::default(),
            realism: Realism::default(),
            rotation: None,
            seed: 0,
            count: None,
            duration: None,
            start_time_ms: None,
            sim_rate: 1000.0,
            progress: Arc::new(Progress::default()),
            on_rotate: None,
            show_progress: false,
        }
    }

    /// Checks the arguments' meaning and builds the config.
    pub fn from_args(a: &GenerateArgs) -> Result<Self, Error> {
        check_share("bot-share", a.bot_share)?;
        check_share("ipv6-share", a.ipv6_share)?;
        check_share("malformed-rate", a.malformed_rate)?;
        check_share("long-line-rate", a.long_line_rate)?;
        if a.vhosts == 0 || a.vhosts > MAX_VHOSTS {
            return Err(Error::invalid(
                "vhosts",
                format!("{} is outside 1..={MAX_VHOSTS}", a.vhosts),
            ));
        }
        if !(a.sim_rate.is_finite() && a.sim_rate > 0.0) {
            return Err(Error::invalid(
                "sim-rate",
                format!("{} must be a positive number", a.sim_rate),
            ));
        }
        if a.count == Some(0) {
            return Err(Error::invalid("count", "0 lines would write nothing"));
        }
        let profile = profile_from_args(a)?;
        let rotation = rotation_from_args(a)?;
        let to_stdout = a.output.as_os_str() == "-";
        if to_stdout && rotation.is_some() {
            return Err(Error::invalid(
                "rotate-size",
                "rotation needs a file output, not stdout (-)",
            ));
        }
        if a.output.as_os_str().is_empty() {
            return Err(Error::invalid("output", "the path is empty"));
        }
        let seed = a.seed.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
        let config = GeneratorConfig {
            vhosts: virtual_hosts(&a.output, a.vhosts),
            rate: a.rate,
            profile,
            realism: Realism {
                format: a.format,
                host: "www.example.com".to_string(),
                bot_share: a.bot_share,
                ipv6_share: a.ipv6_share,
                malformed_rate: a.malformed_rate,
                long_line_rate: a.long_line_rate,
                sequence: a.sequence,
            },
            rotation,
            seed,
            count: a.count,
            duration: a.duration,
            start_time_ms: a.start_time,
            sim_rate: a.sim_rate,
            progress: Arc::new(Progress::default()),
            on_rotate: None,
            show_progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks a config built in code (the same rules as the command line).
    pub fn validate(&self) -> Result<(), Error> {
        if let Rate::PerSecond(r) = self.rate {
            if !(r.is_finite() && r > 0.0) {
                return Err(Error::invalid("rate", format!("{r} must be positive")));
            }
        }
        if self.vhosts.is_empty() {
            return Err(Error::invalid("vhosts", "at least one output is needed"));
        }
        let has_stdout = self
            .vhosts
            .iter()
            .any(|v| v.destination == Destination::Stdout);
        if has_stdout && self.rotation.is_some() {
            return Err(Error::invalid(
                "rotate-mode",
                "rotation needs a file output, not stdout (-)",
            ));
        }
        Ok(())
    }
}

fn check_share(flag: &'static str, v: f64) -> Result<(), Error> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(Error::invalid(
            flag,
            format!("{v} is not a share between 0 and 1"),
        ))
    }
}

fn profile_from_args(a: &GenerateArgs) -> Result<RateProfile, Error> {
    let diurnal = match a.diurnal_peak_ratio {
        None => None,
        Some(r) if !(r.is_finite() && r >= 1.0) => {
            return Err(Error::invalid(
                "diurnal-peak-ratio",
                format!("{r} must be at least 1 (peak rate / trough rate)"),
            ))
        }
        Some(r) => {
            if a.diurnal_period < Duration::from_secs(1) {
                return Err(Error::invalid(
                    "diurnal-period",
                    format!("{:?} is shorter than 1s", a.diurnal_period),
                ));
            }
            Some(Diurnal {
                peak_ratio: r,
                period: a.diurnal_period,
            })
        }
    };
    let incidents = match a.incident_every {
        None => None,
        Some(every) => {
            if a.incident_duration.is_zero() || a.incident_duration >= every {
                return Err(Error::invalid(
                    "incident-duration",
                    format!(
                        "{:?} must be non-zero and shorter than --incident-every ({every:?})",
                        a.incident_duration
                    ),
                ));
            }
            if !(a.incident_rate_factor.is_finite() && a.incident_rate_factor > 0.0) {
                return Err(Error::invalid(
                    "incident-rate-factor",
                    format!("{} must be positive", a.incident_rate_factor),
                ));
            }
            Some(Incidents {
                every,
                duration: a.incident_duration,
                rate_factor: a.incident_rate_factor,
            })
        }
    };
    Ok(RateProfile { diurnal, incidents })
}

fn rotation_from_args(a: &GenerateArgs) -> Result<Option<RotationPolicy>, Error> {
    if a.rotate_size.is_none() && a.rotate_interval.is_none() {
        if let Some(mode) = a.rotate_mode {
            return Err(Error::invalid(
                "rotate-mode",
                format!("{mode:?} needs --rotate-size or --rotate-interval"),
            ));
        }
        return Ok(None);
    }
    if a.rotate_size == Some(0) {
        return Err(Error::invalid("rotate-size", "0 bytes"));
    }
    if let Some(i) = a.rotate_interval {
        if i < Duration::from_secs(1) || i.subsec_nanos() != 0 {
            return Err(Error::invalid(
                "rotate-interval",
                format!("{i:?} must be a whole number of seconds, at least 1s"),
            ));
        }
    }
    Ok(Some(RotationPolicy {
        mode: a.rotate_mode.unwrap_or_default(),
        max_bytes: a.rotate_size,
        interval: a.rotate_interval,
        keep: a.keep,
    }))
}

/// The virtual hosts for `--vhosts n` writing to `path`.
pub fn virtual_hosts(path: &Path, n: usize) -> Vec<VirtualHost> {
    (0..n)
        .map(|i| {
            let name = VHOST_NAMES
                .get(i)
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("site{}", i + 1));
            let destination = if path.as_os_str() == "-" {
                Destination::Stdout
            } else {
                Destination::File(vhost_path(path, &name, n))
            };
            VirtualHost {
                host: format!("{name}.example.com"),
                name,
                destination,
            }
        })
        .collect()
}

/// `{vhost}` in the path is replaced; otherwise, with several hosts, `<stem>-<vhost>.<ext>`.
fn vhost_path(path: &Path, name: &str, n: usize) -> PathBuf {
    let text = path.to_string_lossy();
    if text.contains("{vhost}") {
        return PathBuf::from(text.replace("{vhost}", name));
    }
    if n == 1 {
        return path.to_path_buf();
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = match path.extension() {
        Some(ext) => format!("{stem}-{name}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{name}"),
    };
    path.with_file_name(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: GenerateArgs,
    }

    fn args(list: &[&str]) -> GenerateArgs {
        let mut v = vec!["generate"];
        v.extend_from_slice(list);
        Cli::try_parse_from(v).unwrap().args
    }

    #[test]
    fn vhost_file_names() {
        let hosts = virtual_hosts(Path::new("/var/log/access.log"), 2);
        assert_eq!(
            hosts[1].destination,
            Destination::File("/var/log/access-shop.log".into())
        );
        let hosts = virtual_hosts(Path::new("/var/log/{vhost}/access_log"), 3);
        assert_eq!(
            hosts[2].destination,
            Destination::File("/var/log/blog/access_log".into())
        );
        assert_eq!(hosts[2].host, "blog.example.com");
        assert_eq!(
            virtual_hosts(Path::new("-"), 1)[0].destination,
            Destination::Stdout
        );
    }

    #[test]
    fn nonsense_values_are_exit_code_2() {
        for bad in [
            &["--bot-share", "1.5"][..],
            &["--vhosts", "0"],
            &["--rotate-mode", "dated"],
            &["-o", "-", "--rotate-size", "1M"],
            &["--incident-every", "10s", "--incident-duration", "20s"],
            &["--diurnal-peak-ratio", "0.5"],
            &["--count", "0"],
            &["--rotate-interval", "1500ms"],
        ] {
            let err = GeneratorConfig::from_args(&args(bad)).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}: {err}");
        }
    }

    #[test]
    fn defaults_build() {
        let c = GeneratorConfig::from_args(&args(&["--seed", "3"])).unwrap();
        assert_eq!(c.seed, 3);
        assert_eq!(c.rate, Rate::PerSecond(100.0));
        assert!(c.rotation.is_none());
        assert_eq!(c.realism.ipv6_share, 0.0);
    }
}
