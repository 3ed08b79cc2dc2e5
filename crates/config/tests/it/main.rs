//! Integration tests of firetail-config, one binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Broken files give located errors, never panics; errors are collected.
mod broken;
/// docs/configuration.md's key table matches the key table.
mod docs;
/// The example configs under the repo's `config/` directory load.
mod examples;
/// Flow ids, destinations, patterns, effective config round trip.
mod flows;
/// Random input never panics.
mod fuzz;
/// Every key of the table: default, range edges, coercion, wrong types.
mod key_table;
/// agent.d merging and main-file lookup.
mod loading;

use firetail_config::{parse_str, ConfigErrors, Loaded};
use serde_json::{json, Value};

/// A valid config with one Firehose flow (or Kinesis, if `kinesis`) and one generator.
pub fn base(kinesis: bool) -> Value {
    let flow = if kinesis {
        json!({"filePattern": "/tmp/app.log*", "kinesisStream": "ks"})
    } else {
        json!({"filePattern": "/tmp/app.log*", "deliveryStream": "ds"})
    };
    json!({"flows": [flow], "firetail.generators": [{"path": "/tmp/gen/access.log"}]})
}

pub fn parse_value(v: &Value) -> Result<Loaded, ConfigErrors> {
    parse_str(&v.to_string(), "test.json")
}

pub fn ok(v: &Value) -> Loaded {
    match parse_value(v) {
        Ok(l) => l,
        Err(e) => panic!("expected success for {v}:\n{e}"),
    }
}

pub fn err(v: &Value) -> ConfigErrors {
    match parse_value(v) {
        Ok(_) => panic!("expected an error for {v}"),
        Err(e) => e,
    }
}

/// The repository root (two levels above this crate).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}
