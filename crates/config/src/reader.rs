//! Reads one JSON object (the top level, a flow or a generator) against the key table.
//!
//! Every known key of the section is resolved to a [`Val`]: the coerced, range-checked value,
//! or the default when the key is absent. A bad value records an error and resolves to the
//! default, so reading always goes on and every error in the file is reported at once.
//! Unknown keys become warnings, never errors.

use std::collections::HashMap;

use firetail_agent::coerce;
use serde_json::{Map, Value};

use crate::error::{ConfigError, ConfigWarning, Location};
use crate::keys::{
    self, AppliesTo, Bounds, DefaultValue, DestinationSpec, KeySpec, Kind, Scope, Support,
    JAVA_INT_MAX, JAVA_LONG_MAX,
};

/// The destination a flow section is read for; decides its defaults and ranges.
pub(crate) type FlowDestination = &'static DestinationSpec;

/// A resolved value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Unset,
    Int(i64),
    U64(u64),
    Float(f64),
    Bool(bool),
    Str(String),
    Raw(Value),
}

/// Errors and warnings gathered while loading.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigWarning>,
}

/// The resolved values of one section, by key name.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    values: HashMap<&'static str, Val>,
}

impl Resolved {
    fn get(&self, key: &str) -> &Val {
        self.values.get(key).unwrap_or(&Val::Unset)
    }

    pub fn opt_int(&self, key: &str) -> Option<i64> {
        match self.get(key) {
            Val::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// An integer key with a default; 0 if the table gives none (cannot happen for keys
    /// read through this, which the tests check).
    pub fn int(&self, key: &str) -> i64 {
        self.opt_int(key).unwrap_or(0)
    }

    pub fn u32(&self, key: &str) -> u32 {
        u32::try_from(self.int(key)).unwrap_or(u32::MAX)
    }

    pub fn u64(&self, key: &str) -> u64 {
        u64::try_from(self.int(key)).unwrap_or(0)
    }

    pub fn opt_u64(&self, key: &str) -> Option<u64> {
        match self.get(key) {
            Val::U64(n) => Some(*n),
            Val::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        }
    }

    pub fn millis(&self, key: &str) -> std::time::Duration {
        std::time::Duration::from_millis(self.u64(key))
    }

    pub fn seconds(&self, key: &str) -> std::time::Duration {
        std::time::Duration::from_secs(self.u64(key))
    }

    pub fn float(&self, key: &str) -> f64 {
        match self.get(key) {
            Val::Float(f) => *f,
            _ => 0.0,
        }
    }

    pub fn bool(&self, key: &str) -> bool {
        matches!(self.get(key), Val::Bool(true))
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A string key where the empty string means unset (endpoints, regex patterns).
    pub fn non_empty_str(&self, key: &str) -> Option<String> {
        self.str(key).filter(|s| !s.is_empty()).map(str::to_owned)
    }

    pub fn raw(&self, key: &str) -> Option<&Value> {
        match self.get(key) {
            Val::Raw(v) => Some(v),
            _ => None,
        }
    }
}

/// Reads every key of `scope` from `obj`, validating against the table.
pub(crate) fn read_section(
    obj: &Map<String, Value>,
    scope: Scope,
    flow_type: FlowDestination,
    at: &Location,
    diag: &mut Diagnostics,
) -> Resolved {
    let mut resolved = Resolved::default();
    for spec in keys::keys_in(scope) {
        let val = match obj.get(spec.name) {
            None => absent(spec, flow_type, at, diag),
            Some(value) => present(spec, value, flow_type, at, diag),
        };
        resolved.values.insert(spec.name, val);
    }
    warn_unknown_keys(obj, scope, at, diag);
    resolved
}

fn absent(
    spec: &KeySpec,
    flow_type: FlowDestination,
    at: &Location,
    diag: &mut Diagnostics,
) -> Val {
    // `flows` may come from agent.d alone; "no flows at all" is checked after the merge.
    if spec.default == DefaultValue::Required && spec.name != "flows" {
        diag.errors.push(ConfigError::Missing {
            at: at.clone(),
            key: spec.name.to_owned(),
        });
    }
    default_val(spec, flow_type)
}

/// The value a key has when absent.
pub(crate) fn default_val(spec: &KeySpec, flow_type: FlowDestination) -> Val {
    match spec.default {
        DefaultValue::Required | DefaultValue::Unset | DefaultValue::Computed(_) => Val::Unset,
        DefaultValue::Int(n) => Val::Int(n),
        DefaultValue::RequestBytes => Val::Int(Bounds::UpToRequestBytes.range_for(flow_type).1),
        DefaultValue::RequestRecords => Val::Int(Bounds::UpToRequestRecords.range_for(flow_type).1),
        DefaultValue::Float(f) => Val::Float(f),
        DefaultValue::Bool(b) => Val::Bool(b),
        DefaultValue::Str(s) => Val::Str(s.to_owned()),
    }
}

fn present(
    spec: &KeySpec,
    value: &Value,
    flow_type: FlowDestination,
    at: &Location,
    diag: &mut Diagnostics,
) -> Val {
    if spec.support == Support::Ignored {
        diag.warnings.push(ConfigWarning::IgnoredKey {
            at: at.clone(),
            key: spec.name.to_owned(),
            reason: ignored_reason(spec.name),
        });
        return Val::Unset;
    }
    if !applies(spec.applies_to, flow_type) {
        diag.warnings.push(ConfigWarning::NoEffect {
            at: at.clone(),
            key: spec.name.to_owned(),
            reason: format!(
                "it only applies to {} flows",
                destination_name(spec.applies_to)
            ),
        });
        return default_val(spec, flow_type);
    }
    if spec.name == "userDefinedCredentialsProvider.classname" {
        diag.warnings.push(ConfigWarning::NoEffect {
            at: at.clone(),
            key: spec.name.to_owned(),
            reason: "firetail cannot load Java credential providers; the standard AWS credential chain is used".to_owned(),
        });
    }
    if value.is_null() {
        return null_value(spec, flow_type, at, diag);
    }
    match coerce_value(spec, value, flow_type, at, diag) {
        Ok(v) => v,
        Err(e) => {
            diag.errors.push(e);
            default_val(spec, flow_type)
        }
    }
}

fn ignored_reason(key: &str) -> &'static str {
    if key.starts_with("log.") {
        "the Kinesis Agent ignores it since 2018; firetail's logging is set with RUST_LOG"
    } else {
        "the Kinesis Agent defines it but never reads it"
    }
}

/// Whether a key that `applies_to` means something on a flow to `flow_type`.
pub(crate) fn applies(applies_to: AppliesTo, flow_type: FlowDestination) -> bool {
    match applies_to {
        AppliesTo::All => true,
        AppliesTo::Only(key) => flow_type.key == key,
    }
}

fn destination_name(applies_to: AppliesTo) -> String {
    match applies_to {
        AppliesTo::Only(key) => keys::DESTINATIONS
            .iter()
            .find(|d| d.key == key)
            .map_or_else(|| key.to_owned(), DestinationSpec::describe),
        AppliesTo::All => "all".to_owned(),
    }
}

/// An explicit JSON `null`. The agent returns null instead of the default: optional strings
/// and enums then behave as unset (enums fall back to the default), lists fall back to
/// their default, while numbers and booleans crash the agent at startup — firetail reports
/// those as errors.
fn null_value(
    spec: &KeySpec,
    flow_type: FlowDestination,
    at: &Location,
    diag: &mut Diagnostics,
) -> Val {
    let usable_as_unset = matches!(spec.default, DefaultValue::Unset)
        || matches!(spec.kind, Kind::Enum(_))
        || (spec.kind == Kind::List && spec.default != DefaultValue::Required);
    if usable_as_unset {
        return default_val(spec, flow_type);
    }
    diag.errors.push(ConfigError::BadValue {
        at: at.clone(),
        key: spec.name.to_owned(),
        value: "null".to_owned(),
        expected: format!(
            "allowed: {} (an explicit null makes the Kinesis Agent fail at startup)",
            expected(spec, flow_type)
        ),
    });
    default_val(spec, flow_type)
}

fn coerce_value(
    spec: &KeySpec,
    value: &Value,
    flow_type: FlowDestination,
    at: &Location,
    diag: &mut Diagnostics,
) -> Result<Val, ConfigError> {
    let bad = || ConfigError::BadValue {
        at: at.clone(),
        key: spec.name.to_owned(),
        value: show(value),
        expected: expected(spec, flow_type),
    };
    match spec.kind {
        Kind::Int(bounds) | Kind::Long(bounds) => {
            let n = if matches!(spec.kind, Kind::Int(_)) {
                coerce::int(value)
            } else {
                coerce::long(value)
            };
            let n = n.ok_or_else(bad)?;
            if let Value::String(s) = value {
                if coerce::is_octal_literal(s) {
                    diag.warnings.push(ConfigWarning::Note {
                        at: at.clone(),
                        message: format!("'{}': string {s:?} is read as octal ({n}), as the Kinesis Agent reads it", spec.name),
                    });
                }
            }
            check_bounds(spec, bounds, n, flow_type, at)?;
            Ok(Val::Int(n))
        }
        Kind::U64 => coerce::u64_value(value).map(Val::U64).ok_or_else(bad),
        Kind::Float(min, max) => {
            let f = coerce::float(value).ok_or_else(bad)?;
            if f < min || f > max {
                return Err(ConfigError::OutOfRange {
                    at: at.clone(),
                    key: spec.name.to_owned(),
                    value: show(value),
                    range: format!("[{min:?}..{max:?}]"),
                });
            }
            Ok(Val::Float(f))
        }
        Kind::Bool => coerce::boolean(value).map(Val::Bool).ok_or_else(bad),
        Kind::Str | Kind::FilePattern => coerce::scalar_text(value).map(Val::Str).ok_or_else(bad),
        Kind::Path => match coerce::scalar_text(value) {
            Some(s) if !s.is_empty() => Ok(Val::Str(s)),
            _ => Err(bad()),
        },
        Kind::Enum(legal) => match value.as_str() {
            Some(s) if legal.contains(&s) => Ok(Val::Str(s.to_owned())),
            _ => Err(ConfigError::IllegalEnum {
                at: at.clone(),
                key: spec.name.to_owned(),
                value: coerce::scalar_text(value).unwrap_or_else(|| show(value)),
                legal: legal.join(","),
            }),
        },
        Kind::SocketAddrOrEmpty => match value.as_str() {
            Some("") => Ok(Val::Str(String::new())),
            Some(s) if s.parse::<std::net::SocketAddr>().is_ok() => Ok(Val::Str(s.to_owned())),
            _ => Err(bad()),
        },
        Kind::List => list_value(spec, value, at, diag)?.ok_or_else(bad),
        Kind::Ignored => Ok(Val::Unset),
    }
}

/// Lists: an array is kept raw for the caller. Other lists must be arrays, except
/// `dataProcessingOptions` (see [`processing_options`]).
fn list_value(
    spec: &KeySpec,
    value: &Value,
    at: &Location,
    diag: &mut Diagnostics,
) -> Result<Option<Val>, ConfigError> {
    if spec.name == "flows" {
        // Flows are built (and their errors reported) by the settings code, per file.
        return Ok(Some(Val::Unset));
    }
    if spec.name == "dataProcessingOptions" {
        return processing_options(spec, value, at, diag).map(Some);
    }
    Ok(value.is_array().then(|| Val::Raw(value.clone())))
}

/// `dataProcessingOptions`, read as the agent's `readList(key, Configuration.class, fallback)`:
/// only a value that is not an array falls back (to no converters; silently in the agent,
/// with a warning here). The items of an array are converted one by one and a failure is not
/// caught: a string item throws `Failed to convert list item`, and a `null` item makes the
/// chain's `toString()` throw, so the agent refuses to start. Shipping the flow unconverted
/// instead would hide a typo such as `["LOGTOJSON"]`, hence an error.
fn processing_options(
    spec: &KeySpec,
    value: &Value,
    at: &Location,
    diag: &mut Diagnostics,
) -> Result<Val, ConfigError> {
    let Some(items) = value.as_array() else {
        diag.warnings.push(ConfigWarning::ListFallback {
            at: at.clone(),
            key: spec.name.to_owned(),
        });
        return Ok(Val::Unset);
    };
    if let Some((index, item)) = items.iter().enumerate().find(|(_, v)| !v.is_object()) {
        return Err(ConfigError::BadValue {
            at: at.clone(),
            key: spec.name.to_owned(),
            value: show(value),
            expected: format!(
                "an array of objects: item {index} is {} (the Kinesis Agent refuses to start on it)",
                crate::settings::json_type(item)
            ),
        });
    }
    Ok(if items.is_empty() {
        Val::Unset
    } else {
        Val::Raw(value.clone())
    })
}

fn check_bounds(
    spec: &KeySpec,
    bounds: Bounds,
    n: i64,
    flow_type: FlowDestination,
    at: &Location,
) -> Result<(), ConfigError> {
    let ok = match bounds {
        Bounds::ZeroOr(min, max) => n == 0 || (min..=max).contains(&n),
        _ => {
            let (min, max) = range_for(bounds, flow_type);
            (min..=max).contains(&n)
        }
    };
    if ok {
        return Ok(());
    }
    Err(ConfigError::OutOfRange {
        at: at.clone(),
        key: spec.name.to_owned(),
        value: n.to_string(),
        range: range_text(bounds, flow_type),
    })
}

/// The (min, max) of integer bounds for a flow type (for `ZeroOr`, the non-zero part).
pub(crate) fn range_for(bounds: Bounds, flow_type: FlowDestination) -> (i64, i64) {
    bounds.range_for(flow_type)
}

/// A range as Guava prints it (`[1000..900000]`, `[1..+∞)`), which the agent's messages use.
pub(crate) fn range_text(bounds: Bounds, flow_type: FlowDestination) -> String {
    let (min, max) = range_for(bounds, flow_type);
    let closed = if max == JAVA_LONG_MAX || max == JAVA_INT_MAX {
        format!("[{min}..+∞)")
    } else {
        format!("[{min}..{max}]")
    };
    match bounds {
        Bounds::ZeroOr(..) => format!("0 or {closed}"),
        _ => closed,
    }
}

/// What a key accepts, for error messages.
pub(crate) fn expected(spec: &KeySpec, flow_type: FlowDestination) -> String {
    match spec.kind {
        Kind::Int(b) => format!("an integer (Java int) in {}", range_text(b, flow_type)),
        Kind::Long(b) => format!("an integer (Java long) in {}", range_text(b, flow_type)),
        Kind::U64 => "an unsigned 64-bit integer".to_owned(),
        Kind::Float(min, max) => format!("a number in [{min:?}..{max:?}]"),
        Kind::Bool => "a boolean: true/false or one of true,yes,t,y,1 / false,no,f,n,0".to_owned(),
        Kind::Str => "a string".to_owned(),
        Kind::Path => "a non-empty path string".to_owned(),
        Kind::FilePattern => "an absolute path glob".to_owned(),
        Kind::Enum(legal) => format!("one of {}", legal.join(",")),
        Kind::SocketAddrOrEmpty => {
            "a socket address such as 127.0.0.1:9898, or \"\" to disable".to_owned()
        }
        Kind::List => "an array of objects".to_owned(),
        Kind::Ignored => "anything".to_owned(),
    }
}

/// A value as JSON text, shortened for messages.
pub(crate) fn show(value: &Value) -> String {
    const LIMIT: usize = 80;
    let text = value.to_string();
    if text.chars().count() <= LIMIT {
        return text;
    }
    let head: String = text.chars().take(LIMIT).collect();
    format!("{head}…")
}

fn warn_unknown_keys(
    obj: &Map<String, Value>,
    scope: Scope,
    at: &Location,
    diag: &mut Diagnostics,
) {
    for name in obj.keys() {
        if keys::lookup(scope, name).is_some() {
            continue;
        }
        if scope == Scope::Global && keys::lookup(Scope::Flow, name).is_some() {
            diag.warnings.push(ConfigWarning::FlowKeyAtTopLevel {
                at: at.clone(),
                key: name.clone(),
            });
            continue;
        }
        diag.warnings.push(ConfigWarning::UnknownKey {
            at: at.clone(),
            key: name.clone(),
            suggestion: keys::suggest(scope, name),
        });
    }
}
