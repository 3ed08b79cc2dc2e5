//! `firetail-config`: reads the Kinesis Agent's `agent.json` exactly as the agent does, plus
//! firetail's own `firetail.*` keys, and turns it into typed [`Settings`].
//!
//! The contract is `spec/kinesis-agent.md` §1: flat dotted keys, JSON with comments, the
//! agent's string coercion, case-sensitive enums, its defaults and ranges, `agent.d` merging
//! and flow ids. Deviations are listed in `docs/configuration.md`.
//!
//! Loading never stops at the first problem: every error in every file is collected into
//! [`ConfigErrors`]; unknown keys are [`ConfigWarning`]s, never errors.
//!
//! # Layout
//! - [`keys`]: the table of every key (name, scope, type, default, range, doc); the single
//!   source of truth for validation, tests and docs.
//! - `jsonc`: comment stripping and JSON parsing with located syntax errors.
//! - `reader`: validates one JSON object against the table, coercing values by the agent's
//!   rules ([`firetail_agent::coerce`]: `Long.decode`, boolean words).
//! - `settings`: the typed [`Settings`], [`FlowSettings`], [`GeneratorSettings`].
//! - `load`: file lookup, `agent.d`, cross-flow checks.
//! - `effective`: [`Settings::to_effective_json`].

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]
// Errors carry their full location and are built once, at startup: their size is irrelevant
// and boxing them would only make matching on them clumsier.
#![allow(clippy::result_large_err)]

mod effective;
mod error;
mod jsonc;
pub mod keys;
mod load;
mod reader;
mod settings;

pub use effective::REDACTED;
pub use error::{ConfigError, ConfigErrors, ConfigWarning, Location, Section};
pub use load::{default_config_candidates, load, parse_str, resolve_config_path, Loaded};
pub use settings::{
    region_from_endpoint, Destination, FlowSettings, GeneratorFormat, GeneratorSettings,
    InitialPosition, PartitionKeyOption, RotateMode, Secret, Settings,
};
