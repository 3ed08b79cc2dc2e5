//! Generated from `firetail_config::keys::KEYS`: for every key, its default, both range
//! edges, one past each edge, string coercion and a wrong type; every error names the key.

use firetail_config::keys::{
    default_destination, AppliesTo, Bounds, DefaultValue, DestinationSpec, KeySpec, Kind, Scope,
    Support, DESTINATIONS, KEYS,
};
use serde_json::{json, Value};

use crate::{base, err, ok, parse_value};

/// Keys with their own dedicated tests (structure, not scalar values).
const SPECIAL: &[&str] = &[
    "flows",
    "filePattern",
    "deliveryStream",
    "kinesisStream",
    "firetail.logGroup",
    "firetail.logStream",
    "dataProcessingOptions",
    "firetail.generators",
    "path",
];

/// The destination of the flow a key is tested on: its own, for a key of one destination.
fn destination(spec: &KeySpec) -> &'static DestinationSpec {
    match spec.applies_to {
        AppliesTo::Only(key) => DESTINATIONS
            .iter()
            .find(|d| d.key == key)
            .expect("a destination's key"),
        AppliesTo::All => default_destination(),
    }
}

/// The base config, its flow sending to the key's destination.
fn base_for(spec: &KeySpec) -> Value {
    let destination = destination(spec);
    let mut cfg = base(false);
    let flow = &mut cfg["flows"][0];
    if let Some(flow) = flow.as_object_mut() {
        flow.remove("deliveryStream");
    }
    flow[destination.key] = json!("target");
    if destination.key == "firetail.logGroup" {
        flow["firetail.logStream"] = json!("stream");
    }
    cfg
}

/// The base config with `key: value` set in the key's section.
fn with(spec: &KeySpec, value: Value) -> Value {
    let mut cfg = base_for(spec);
    let section = match spec.scope {
        Scope::Global => &mut cfg,
        Scope::Flow => &mut cfg["flows"][0],
        Scope::Generator => &mut cfg["firetail.generators"][0],
    };
    section[spec.name] = value;
    // Static credentials only count in pairs: give each half its partner.
    for (key, partner) in [
        ("awsAccessKeyId", "awsSecretAccessKey"),
        ("awsSecretAccessKey", "awsAccessKeyId"),
    ] {
        if spec.name == key {
            cfg[partner] = json!("partner");
        }
    }
    cfg
}

/// The key's value in the effective config of `cfg`.
fn effective(spec: &KeySpec, cfg: &Value) -> Value {
    let eff = ok(cfg).settings.to_effective_json();
    let section = match spec.scope {
        Scope::Global => eff,
        Scope::Flow => eff["flows"][0].clone(),
        Scope::Generator => eff["firetail.generators"][0].clone(),
    };
    section
        .get(spec.name)
        .cloned()
        .unwrap_or_else(|| panic!("{} missing from effective config", spec.name))
}

fn scalar_keys() -> impl Iterator<Item = &'static KeySpec> {
    KEYS.iter()
        .filter(|k| !SPECIAL.contains(&k.name) && k.support != Support::Ignored)
}

fn assert_rejected(spec: &KeySpec, value: Value) {
    let errors = err(&with(spec, value.clone()));
    assert_eq!(errors.len(), 1, "{}={value}: {errors}", spec.name);
    let msg = errors.to_string();
    assert!(
        msg.contains(spec.name),
        "{}={value}: message does not name the key: {msg}",
        spec.name
    );
    assert!(
        msg.contains("test.json"),
        "message does not name the file: {msg}"
    );
    let shown = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned);
    assert!(
        msg.contains(&shown),
        "message does not show the value {shown}: {msg}"
    );
}

fn assert_accepted(spec: &KeySpec, value: Value, expect: Value) {
    let got = effective(spec, &with(spec, value.clone()));
    let expect = if spec.name == "awsSecretAccessKey" {
        json!(firetail_config::REDACTED)
    } else {
        expect
    };
    assert_eq!(got, expect, "{}={value}", spec.name);
}

fn bounds_for(spec: &KeySpec, b: Bounds) -> (i64, i64) {
    b.range_for(destination(spec))
}

#[test]
fn every_key_has_its_default() {
    for spec in scalar_keys() {
        let expect = match spec.default {
            DefaultValue::Int(n) => json!(n),
            DefaultValue::RequestBytes => json!(destination(spec).limits.max_request_bytes),
            DefaultValue::RequestRecords => {
                json!(destination(spec).limits.max_records_per_request)
            }
            DefaultValue::Float(f) => json!(f),
            DefaultValue::Bool(b) => json!(b),
            DefaultValue::Str(s) => json!(s),
            DefaultValue::Unset => Value::Null,
            DefaultValue::Computed(_) | DefaultValue::Required => continue,
        };
        let got = effective(spec, &base_for(spec));
        assert_eq!(got, expect, "default of {}", spec.name);
    }
}

#[test]
fn integer_keys_accept_their_edges_and_reject_beyond() {
    for spec in scalar_keys() {
        let (Kind::Int(b) | Kind::Long(b)) = spec.kind else {
            continue;
        };
        let (lo, hi) = bounds_for(spec, b);
        assert_accepted(spec, json!(lo), json!(lo));
        assert_accepted(spec, json!(hi), json!(hi));
        if matches!(b, Bounds::ZeroOr(..)) {
            assert_accepted(spec, json!(0), json!(0));
            if lo - 1 > 0 {
                assert_rejected(spec, json!(lo - 1));
            }
        } else {
            assert_rejected(spec, json!(lo - 1));
        }
        // One past a Java type's maximum is written as text: it does not fit an i64 either.
        let past_max = i128::from(hi) + 1;
        assert_rejected(spec, serde_json::from_str(&past_max.to_string()).unwrap());
    }
}

#[test]
fn integer_keys_coerce_strings_and_reject_other_types() {
    for spec in scalar_keys() {
        let (Kind::Int(b) | Kind::Long(b)) = spec.kind else {
            continue;
        };
        let (lo, _) = bounds_for(spec, b);
        assert_accepted(spec, json!(lo.to_string()), json!(lo));
        assert_rejected(spec, json!(1.5));
        assert_rejected(spec, json!("abc"));
        assert_rejected(spec, json!(true));
    }
}

#[test]
fn boolean_keys_follow_the_agent_words() {
    for spec in scalar_keys().filter(|k| k.kind == Kind::Bool) {
        for (text, expect) in [
            ("yes", true),
            ("Y", true),
            ("1", true),
            ("FALSE", false),
            ("n", false),
            ("0", false),
        ] {
            assert_accepted(spec, json!(text), json!(expect));
        }
        assert_accepted(spec, json!(true), json!(true));
        assert_rejected(spec, json!("maybe"));
        assert_rejected(spec, json!(2));
    }
}

#[test]
fn enum_keys_are_case_sensitive() {
    for spec in scalar_keys() {
        let Kind::Enum(legal) = spec.kind else {
            continue;
        };
        for name in legal {
            assert_accepted(spec, json!(name), json!(name));
        }
        let wrong_case = if legal[0].chars().any(char::is_uppercase) {
            legal[0].to_lowercase()
        } else {
            legal[0].to_uppercase()
        };
        assert_rejected(spec, json!(wrong_case));
        let msg = err(&with(spec, json!("nope"))).to_string();
        assert!(
            msg.contains(&legal.join(",")),
            "legal values not listed: {msg}"
        );
        // An explicit null behaves like an absent key (the agent's readEnum fallback).
        assert!(parse_value(&with(spec, Value::Null)).is_ok());
    }
}

#[test]
fn string_keys_take_scalars_and_reject_containers() {
    for spec in scalar_keys().filter(|k| matches!(k.kind, Kind::Str | Kind::Path)) {
        assert_accepted(spec, json!("some-value"), json!("some-value"));
        assert_accepted(spec, json!(42), json!("42"));
        assert_rejected(spec, json!(["a"]));
    }
}

#[test]
fn float_keys_have_ranges() {
    for spec in scalar_keys() {
        let Kind::Float(lo, hi) = spec.kind else {
            continue;
        };
        assert_accepted(spec, json!(lo), json!(lo));
        assert_accepted(spec, json!(hi), json!(hi));
        assert_accepted(spec, json!("0.5"), json!(0.5));
        assert_rejected(spec, json!(lo - 0.1));
        assert_rejected(spec, json!(hi + 0.1));
        assert_rejected(spec, json!("half"));
    }
}

#[test]
fn u64_keys_take_the_full_range() {
    for spec in scalar_keys().filter(|k| k.kind == Kind::U64) {
        assert_accepted(spec, json!(u64::MAX), json!(u64::MAX));
        assert_accepted(spec, json!("7"), json!(7));
        assert_rejected(spec, json!(-1));
    }
}

#[test]
fn null_for_a_number_or_boolean_is_an_error_naming_the_key() {
    for spec in scalar_keys() {
        let has_concrete_default = matches!(
            spec.default,
            DefaultValue::Int(_)
                | DefaultValue::Bool(_)
                | DefaultValue::Float(_)
                | DefaultValue::RequestBytes
                | DefaultValue::RequestRecords
        );
        if !has_concrete_default || matches!(spec.kind, Kind::Enum(_)) {
            continue;
        }
        let msg = err(&with(spec, Value::Null)).to_string();
        assert!(msg.contains(spec.name) && msg.contains("null"), "{msg}");
    }
}

#[test]
fn metrics_listen_takes_an_address_or_empty() {
    let spec = firetail_config::keys::lookup(Scope::Global, "firetail.metrics.listen").unwrap();
    assert_accepted(spec, json!("0.0.0.0:9100"), json!("0.0.0.0:9100"));
    assert_accepted(spec, json!("[::1]:9100"), json!("[::1]:9100"));
    let loaded = ok(&with(spec, json!("")));
    assert_eq!(loaded.settings.metrics_listen, None);
    assert_rejected(spec, json!("localhost"));
}

#[test]
fn destination_specific_keys_warn_on_the_other_flow_type() {
    let mut cfg = base(false);
    cfg["flows"][0]["partitionKeyOption"] = json!("DETERMINISTIC");
    let loaded = ok(&cfg);
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.to_string().contains("partitionKeyOption")
            && w.to_string().contains("has no effect")));
    let mut cfg = base(true);
    cfg["flows"][0]["aggregatedRecordSizeBytes"] = json!(99_999_999);
    let loaded = ok(&cfg);
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.to_string().contains("aggregatedRecordSizeBytes")));
}

#[test]
fn ignored_keys_warn() {
    for name in [
        "log.level",
        "log.file",
        "log.maxBackupIndex",
        "log.maxFileSize",
    ] {
        let mut cfg = base(false);
        cfg[name] = json!("DEBUG");
        let loaded = ok(&cfg);
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.to_string().contains(name) && w.to_string().contains("ignored")),
            "{name}"
        );
    }
}

#[test]
fn octal_strings_are_read_as_the_agent_reads_them_with_a_warning() {
    let mut cfg = base(false);
    cfg["flows"][0]["skipHeaderLines"] = json!("010");
    let loaded = ok(&cfg);
    assert_eq!(loaded.settings.flows[0].skip_header_lines, 8);
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.to_string().contains("octal")));
}

/// Keys the daemon acts on must not be documented as "accepted only": `cloudwatch.tagInstance`
/// adds the `Instance` dimension and `cloudwatch.metricsQueueSize` caps the datums held
/// (src/cloudwatch.rs), `minTimeBetweenFilePollsMillis` is the poll period without inotify
/// (src/daemon/flow.rs).
#[test]
fn keys_the_daemon_uses_are_marked_used() {
    for name in [
        "cloudwatch.tagInstance",
        "cloudwatch.metricsQueueSize",
        "minTimeBetweenFilePollsMillis",
    ] {
        let spec = KEYS
            .iter()
            .find(|k| k.name == name)
            .unwrap_or_else(|| panic!("{name} is not in the key table"));
        assert_eq!(spec.support, Support::Used, "{name}");
    }
}
