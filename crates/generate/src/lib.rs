//! `firetail-generate`: a simulated web server that writes realistic Apache access logs at an
//! exact rate and rotates them the way production servers do. It knows nothing of the rest of
//! firetail; to the tailer it is just a process writing files.
//!
//! # Layout
//! - [`args`] — the `firetail generate` flags ([`GenerateArgs`]) and their value parsers.
//! - [`config`] — [`GeneratorConfig`], the validated programmatic form; virtual hosts.
//! - [`schedule`] — when line `k` is due (exact rate, diurnal swell, incidents), drift-free.
//! - [`mod@line`] — [`LineGenerator`], the pure line model (no I/O, no clock), seeded.
//! - `site`, `clients` — the pre-rendered catalog (paths, sizes) and client pools.
//! - [`output`] — stdout or rotating files (rename, copytruncate, dated), whole lines only.
//! - [`driver`] — the paced run loop, [`run`] / [`spawn`].
//! - [`agent`] — `--print-agent-config`.
//! - `fmt`, `pick`, `rng` — allocation-free formatting, weighted choice, the seeded PRNG.
//!
//! # Invariants
//! - Files only ever hold whole lines: rotation and error recovery happen at line boundaries.
//! - Unless `--malformed-rate` asks otherwise, every line matches the Kinesis Agent's
//!   COMBINEDAPACHELOG pattern (IPv6 clients cannot, so they are opt-in).
//! - The same seed, start time and count give the same bytes.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod agent;
pub mod args;
mod clients;
pub mod config;
pub mod driver;
pub mod error;
mod fmt;
pub mod line;
pub mod output;
mod pick;
mod progress;
mod rng;
pub mod schedule;
mod site;

use std::sync::atomic::AtomicBool;

pub use agent::agent_config_json;
pub use args::{GenerateArgs, Rate};
pub use config::{Destination, GeneratorConfig, VirtualHost};
pub use driver::{run_config, spawn, RunSummary};
pub use error::Error;
pub use line::{Format, LineGenerator, Realism};
pub use output::{Progress, RotateHook, RotateMode, Rotation, RotationPolicy};
pub use schedule::{Diurnal, Incidents, RateProfile, Schedule};

/// What `firetail generate` calls: validates `args`, then either prints the agent config or
/// writes lines until the count or duration is reached (or forever). Blocking.
pub fn run(args: &GenerateArgs) -> Result<RunSummary, Error> {
    let cfg = GeneratorConfig::from_args(args)?;
    if args.print_agent_config {
        print!("{}", agent_config_json(&cfg, &args.stream));
        return Ok(RunSummary::default());
    }
    run_config(&cfg, &AtomicBool::new(false))
}
