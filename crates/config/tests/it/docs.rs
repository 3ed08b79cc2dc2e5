//! docs/configuration.md carries the key table generated from `keys::KEYS`. Regenerate it with
//! `UPDATE_DOCS=1 cargo test -p firetail-config --test it docs`.

use firetail_config::keys::{
    AppliesTo, Bounds, DefaultValue, KeySpec, Kind, Scope, Support, DESTINATIONS, KEYS,
};

use crate::repo_root;

const BEGIN: &str = "<!-- BEGIN GENERATED KEY TABLES: edit crates/config/src/keys.rs, then UPDATE_DOCS=1 cargo test -p firetail-config -->";
const END: &str = "<!-- END GENERATED KEY TABLES -->";

fn range(b: Bounds) -> String {
    let show = |(lo, hi): (i64, i64)| {
        if hi == i64::MAX || hi == i64::from(i32::MAX) {
            format!("≥ {lo}")
        } else {
            format!("{lo} – {hi}")
        }
    };
    match b {
        Bounds::Range(lo, hi) => show((lo, hi)),
        Bounds::ZeroOr(lo, hi) => format!("0 or {}", show((lo, hi))),
        Bounds::UpToRequestBytes | Bounds::UpToRequestRecords => per_destination(|d| {
            let (lo, hi) = b.range_for(d);
            show((lo, hi))
        }),
    }
}

/// One value per destination: `Firehose 1 – 4194304, Kinesis …`.
fn per_destination(value: impl Fn(&firetail_config::keys::DestinationSpec) -> String) -> String {
    DESTINATIONS
        .iter()
        .map(|d| format!("{} {}", d.limits.name, value(d)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn type_and_range(k: &KeySpec) -> (String, String) {
    match k.kind {
        Kind::Int(b) => ("int".into(), range(b)),
        Kind::Long(b) => ("long".into(), range(b)),
        Kind::U64 => ("u64".into(), "any".into()),
        Kind::Float(lo, hi) => ("number".into(), format!("{lo:?} – {hi:?}")),
        Kind::Bool => ("bool".into(), "true/false, yes/no, t/f, y/n, 1/0".into()),
        Kind::Str => ("string".into(), String::new()),
        Kind::Path => ("path".into(), "non-empty".into()),
        Kind::FilePattern => ("glob".into(), "absolute, not ending in `/`".into()),
        Kind::Enum(legal) => (
            "enum".into(),
            legal
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Kind::SocketAddrOrEmpty => ("address".into(), "`host:port` or `\"\"`".into()),
        Kind::List => ("array".into(), String::new()),
        Kind::Ignored => ("any".into(), String::new()),
    }
}

fn default(k: &KeySpec) -> String {
    match k.default {
        DefaultValue::Required => "required".into(),
        DefaultValue::Unset => "unset".into(),
        DefaultValue::Int(n) => format!("`{n}`"),
        DefaultValue::RequestBytes => {
            per_destination(|d| format!("`{}`", d.limits.max_request_bytes))
        }
        DefaultValue::RequestRecords => {
            per_destination(|d| format!("`{}`", d.limits.max_records_per_request))
        }
        DefaultValue::Float(f) => format!("`{f}`"),
        DefaultValue::Bool(b) => format!("`{b}`"),
        DefaultValue::Str(s) => format!("`{}`", s.escape_default()),
        DefaultValue::Computed(how) => how.into(),
    }
}

fn support(k: &KeySpec) -> &'static str {
    match (k.support, k.is_extension()) {
        (Support::Used, true) => "used (firetail)",
        (Support::Used, false) => "used",
        (Support::Accepted, _) => "accepted only",
        (Support::Ignored, _) => "ignored, warns",
    }
}

fn table(scope: Scope) -> String {
    let mut out = String::from("| key | type | default | range / legal values | firetail | meaning |\n| --- | --- | --- | --- | --- | --- |\n");
    for k in KEYS.iter().filter(|k| k.scope == scope) {
        let (ty, range) = type_and_range(k);
        let only = match k.applies_to {
            AppliesTo::All => String::new(),
            AppliesTo::Only(key) => format!(" (`{key}` flows only)"),
        };
        out.push_str(&format!(
            "| `{}` | {ty} | {} | {range} | {} | {}{only} |\n",
            k.name,
            default(k),
            support(k),
            k.doc
        ));
    }
    out
}

fn generated() -> String {
    format!(
        "{BEGIN}\n\n### Global keys\n\n{}\n### Flow keys (`flows[i]`)\n\n{}\n### Generator keys (`firetail.generators[i]`)\n\n{}\n{END}",
        table(Scope::Global),
        table(Scope::Flow),
        table(Scope::Generator)
    )
}

#[test]
fn configuration_doc_key_tables_are_up_to_date() {
    let path = repo_root().join("docs/configuration.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (Some(start), Some(end)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("{} lacks the generated-table markers", path.display());
    };
    let current = &doc[start..end + END.len()];
    let expected = generated();
    if current != expected {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{expected}{}", &doc[..start], &doc[end + END.len()..]);
            std::fs::write(&path, updated).unwrap();
        } else {
            panic!("docs/configuration.md key tables are stale; run UPDATE_DOCS=1 cargo test -p firetail-config --test it docs");
        }
    }
}
