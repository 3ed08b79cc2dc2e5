//! LOGTOJSON targets: one built-in `logFormat` per target.
//!
//! Properties, for any record bytes:
//! - the production chain (built from agent.json options) never panics and only ever
//!   converts or skips;
//! - a converted record is one flat JSON object + `\n`, keys = the format's field names in
//!   order, values strings/null, taken left to right from the line; Apache formats never
//!   send `-` (it is `null`);
//! - PRETTYPRINT and `customFieldNames` give the same values as COMPACT;
//! - the regex reference path gives byte-identical output; for COMMON/COMBINED the
//!   hand-written parser agrees with the regex (the original differential);
//! - `firetail.lenientApache` accepts every line the strict pattern accepts (without a
//!   trailing `\r`), with the same output.

use std::sync::OnceLock;

use firetail_process::json::JsonFormat;
use firetail_process::logtojson::{LogFormat, LogToJson};
use firetail_process::{Chain, Outcome};
use serde_json::json;

use crate::flat_json::{assert_values_in_order, check_flat_object};

struct Converters {
    compact: Chain,
    pretty: Chain,
    custom: Chain,
    custom_fields: Vec<String>,
    strict: LogToJson,
    lenient: LogToJson,
}

const FORMATS: [LogFormat; 5] = [
    LogFormat::CommonApache,
    LogFormat::CombinedApache,
    LogFormat::ApacheError,
    LogFormat::Syslog,
    LogFormat::Rfc3339Syslog,
];

fn converters(format: LogFormat) -> &'static Converters {
    static CACHE: [OnceLock<Converters>; 5] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let i = FORMATS.iter().position(|f| *f == format).unwrap();
    CACHE[i].get_or_init(|| {
        let name = format.name();
        let custom_fields: Vec<String> = (0..format.field_names().len())
            .map(|i| format!("c{i}\"\u{e9}"))
            .collect();
        let chain = |v| Chain::from_options(&v).expect("built-in LOGTOJSON options build");
        Converters {
            compact: chain(json!([{"optionName": "LOGTOJSON", "logFormat": name}])),
            pretty: chain(
                json!([{"optionName": "LOGTOJSON", "logFormat": name, "jsonFormat": "PRETTYPRINT"}]),
            ),
            custom: chain(
                json!([{"optionName": "LOGTOJSON", "logFormat": name, "customFieldNames": custom_fields}]),
            ),
            custom_fields,
            strict: LogToJson::build(0, format, None, None, JsonFormat::Compact, false).unwrap(),
            lenient: LogToJson::build(0, format, None, None, JsonFormat::Compact, true).unwrap(),
        }
    })
}

pub fn check(format: LogFormat, data: &[u8]) {
    let c = converters(format);
    let fields = format.field_names();
    let text = firetail_agent::utf8::decode(data);
    let line = text.strip_suffix('\n').unwrap_or(&text);

    let mut out = Vec::new();
    let outcome = c.compact.process(data, &mut out);
    let mut pretty_out = Vec::new();
    let pretty_outcome = c.pretty.process(data, &mut pretty_out);
    let mut custom_out = Vec::new();
    let custom_outcome = c.custom.process(data, &mut custom_out);
    assert_eq!(outcome, pretty_outcome, "{line:?}");
    assert_eq!(outcome, custom_outcome, "{line:?}");

    match outcome {
        Outcome::Skipped => {
            assert!(out.is_empty() && pretty_out.is_empty() && custom_out.is_empty());
        }
        Outcome::Converted => {
            let values = check_flat_object(&out, fields, false);
            assert_eq!(values, check_flat_object(&pretty_out, fields, true));
            let custom: Vec<&str> = c.custom_fields.iter().map(String::as_str).collect();
            assert_eq!(values, check_flat_object(&custom_out, &custom, false));
            assert_values_in_order(line, &values);
            if format.is_apache() {
                assert!(
                    values.iter().all(|v| v.as_deref() != Some("-")),
                    "Apache '-' is null: {values:?}"
                );
            }
        }
        other => panic!("LOGTOJSON only converts or skips, got {other:?} for {line:?}"),
    }

    // The reference path: the agent's regex, run directly.
    let mut regex_out = Vec::new();
    let regex_ok = c.strict.convert_regex(line, &mut regex_out);
    if regex_ok {
        regex_out.push(b'\n');
    }
    assert_eq!(regex_ok, outcome == Outcome::Converted, "{line:?}");
    assert_eq!(regex_out, out, "{line:?}");

    // The hand-written Apache parsers against the regex.
    let mut fast_out = Vec::new();
    if let Some(fast_ok) = c.strict.convert_fast_only(line, &mut fast_out) {
        assert_eq!(fast_ok, regex_ok, "fast vs regex: {line:?}");
        if fast_ok {
            fast_out.push(b'\n');
            assert_eq!(fast_out, out, "fast vs regex: {line:?}");
        }
    }

    // Lenient is a superset for lines the agent matches.
    if format.is_apache() && regex_ok && !line.ends_with('\r') {
        let mut lenient_out = Vec::new();
        assert!(
            c.lenient.convert(data, &mut lenient_out),
            "lenient refuses a strict match: {line:?}"
        );
        assert_eq!(lenient_out, out, "lenient vs strict: {line:?}");
    }
}
