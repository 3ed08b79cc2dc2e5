//! Logging setup: `tracing` to stderr in a journald-friendly shape.
//!
//! Under systemd (`JOURNAL_STREAM` set) timestamps are left to the journal and ANSI
//! colours are off, so `journalctl` shows one clean line per event. `--log-level` sets
//! the default filter; `RUST_LOG` wins when present, as operators expect.
//!
//! The default filter quiets one SDK target: off EC2 (or with IMDS blocked), the AWS SDK's
//! region chain logs its failed IMDS probe as a multi-line WARN at every client build,
//! while firetail already says, in one line, which region key to set when none is found.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call once per process; a second call (tests
/// running the CLI in-process) is ignored.
pub fn init(default_level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default_directives(default_level)))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .with_ansi(!under_journald && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // `try_init` fails only if a subscriber is already installed; keeping the first one
    // is what we want.
    let _ = if under_journald {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
}

/// `--log-level` plus the SDK target quieted by default (see the module docs), unless the
/// operator's level already names an `aws_config` target.
fn default_directives(level: &str) -> String {
    if level.contains("aws_config") {
        level.to_owned()
    } else {
        format!("{level},aws_config::imds::region=error")
    }
}

#[cfg(test)]
mod tests {
    use super::default_directives;

    #[test]
    fn the_sdk_region_probe_is_quiet_unless_asked_for() {
        assert_eq!(
            default_directives("info"),
            "info,aws_config::imds::region=error"
        );
        assert_eq!(
            default_directives("debug,aws_config=trace"),
            "debug,aws_config=trace"
        );
        assert!(
            tracing_subscriber::EnvFilter::try_new(default_directives("firetail=debug")).is_ok()
        );
    }
}
