//! CSVTOJSON: field names, delimiter and layout chosen from the first bytes.
//!
//! Properties: the chain built from agent.json options never panics; an invalid delimiter
//! regex makes every record fall back to raw (the agent compiles it per record); otherwise
//! the record is converted to one flat JSON object + `\n` with exactly the configured keys
//! in order; column *i* fills field *i*, so once a field is `null` all later ones are;
//! values come from the line left to right (except the `?` that stands for half of a
//! supplementary character split by a delimiter matching the empty string, as in Java);
//! PRETTYPRINT gives the same values; and for a one-character delimiter the values are
//! exactly Java's `String.split` of the line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use firetail_process::{Chain, Outcome};
use serde_json::json;

use crate::flat_json::{assert_values_in_order, check_flat_object};
use crate::Knobs;

/// Unique field names, some needing JSON escapes.
const NAMES: [&str; 8] = [
    "id",
    "na\"me",
    "",
    "\u{e9}\u{1}",
    "a b",
    "\\",
    "x\ny",
    "last",
];

/// Delimiters as written in agent.json (Java regexes); the `Option` is the single char
/// Java's split then cuts on, when it is one.
const DELIMITERS: [(&str, Option<char>); 15] = [
    (",", Some(',')),
    ("\t", Some('\t')),
    ("\\t", Some('\t')),
    ("|", None),
    ("\\|", Some('|')),
    (";", Some(';')),
    (" ", Some(' ')),
    ("\\s+", None),
    (",\\s*", None),
    ("(", None),
    (".", None),
    ("a*", None),
    ("\u{e9}", Some('\u{e9}')),
    ("[,;]", None),
    ("", None),
];

struct Built {
    compact: Chain,
    pretty: Chain,
}

/// Built chains by field count and delimiter (compiling a regex per input would make the
/// target ~20 times slower); bounded, since the input can write delimiters.
fn build(names: &[&str], delimiter: &str) -> Arc<Built> {
    type Cache = HashMap<(usize, String), Arc<Built>>;
    static CACHE: Mutex<Option<Cache>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap();
    let cache = cache.get_or_insert_with(HashMap::new);
    if cache.len() > 4096 {
        cache.clear();
    }
    let built = cache
        .entry((names.len(), delimiter.to_owned()))
        .or_insert_with(|| {
            let opts = |format: &str| {
                json!([{"optionName": "CSVTOJSON", "customFieldNames": names,
                        "delimiter": delimiter, "jsonFormat": format}])
            };
            let chain = |v| Chain::from_options(&v).expect("CSVTOJSON options build");
            Arc::new(Built {
                compact: chain(opts("COMPACT")),
                pretty: chain(opts("PRETTYPRINT")),
            })
        });
    Arc::clone(built)
}

/// Java `String.split(regex)` for a regex that matches exactly one char `c`.
fn java_split_char(line: &str, c: char) -> Vec<&str> {
    if !line.contains(c) {
        return vec![line];
    }
    let mut pieces: Vec<&str> = line.split(c).collect();
    while pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    pieces
}

pub fn check(data: &[u8]) {
    let mut knobs = Knobs::new(data);
    let n_fields = 1 + usize::from(knobs.byte() % 8);
    let choice = knobs.byte();
    let custom;
    let (delimiter, single) = if choice & 0x80 != 0 {
        // A delimiter written by the fuzzer (first line of the payload, at most 16 bytes).
        custom = String::from_utf8_lossy(knobs.line())
            .chars()
            .take(16)
            .collect::<String>();
        (custom.as_str(), None)
    } else {
        DELIMITERS[usize::from(choice) % DELIMITERS.len()]
    };
    let names = &NAMES[..n_fields];
    let built = build(names, delimiter);
    let record = knobs.rest();
    let text = firetail_agent::utf8::decode(record);
    let line = text.strip_suffix('\n').unwrap_or(&text);

    let mut out = Vec::new();
    let outcome = built.compact.process(record, &mut out);
    let mut pretty_out = Vec::new();
    assert_eq!(outcome, built.pretty.process(record, &mut pretty_out));
    match outcome {
        Outcome::RawFallback => {
            assert!(out.is_empty() && pretty_out.is_empty());
            assert!(
                single.is_none(),
                "a one-char delimiter {delimiter:?} cannot be invalid"
            );
        }
        Outcome::Converted => {
            let values = check_flat_object(&out, names, false);
            assert_eq!(values, check_flat_object(&pretty_out, names, true));
            if let Some(first_null) = values.iter().position(Option::is_none) {
                assert!(
                    values[first_null..].iter().all(Option::is_none),
                    "columns fill fields from the front: {values:?}"
                );
            }
            // A delimiter that matches the empty string splits a supplementary character into
            // its UTF-16 halves, as Java does; each half is written as `?` (JavaRegex::split).
            let halves = line.chars().any(|c| c.len_utf16() == 2);
            let from_line: Vec<Option<String>> = values
                .iter()
                .filter(|v| !(halves && v.as_deref() == Some("?")))
                .cloned()
                .collect();
            assert_values_in_order(line, &from_line);
            if let Some(c) = single {
                let columns = java_split_char(line, c);
                let expected: Vec<Option<String>> = (0..n_fields)
                    .map(|i| columns.get(i).map(|s| (*s).to_owned()))
                    .collect();
                assert_eq!(values, expected, "split {line:?} on {c:?}");
            }
        }
        other => panic!("CSVTOJSON converts or falls back, got {other:?}"),
    }
}
