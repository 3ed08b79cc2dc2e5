//! The hand-written Apache access-log parsers must agree with the agent's regexes (run through
//! `JavaRegex`) on every line: generated lines from realistic and edge-case fragments, with
//! random mutations, plus every input of the Apache vector cases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use base64::Engine as _;
use firetail_process::json::JsonFormat;
use firetail_process::logtojson::{LogFormat, LogToJson};
use proptest::prelude::*;

fn converter(format: LogFormat) -> &'static LogToJson {
    static COMMON: OnceLock<LogToJson> = OnceLock::new();
    static COMBINED: OnceLock<LogToJson> = OnceLock::new();
    let cell = match format {
        LogFormat::CommonApache => &COMMON,
        _ => &COMBINED,
    };
    cell.get_or_init(|| {
        LogToJson::build(0, format, None, None, JsonFormat::Compact, false).unwrap()
    })
}

fn assert_agree(conv: &LogToJson, line: &str) {
    let mut fast_out = Vec::new();
    let mut regex_out = Vec::new();
    let fast = conv.convert_fast_only(line, &mut fast_out).unwrap();
    let regex = conv.convert_regex(line, &mut regex_out);
    assert_eq!(fast, regex, "match disagreement on {line:?}");
    assert_eq!(
        String::from_utf8_lossy(&fast_out),
        String::from_utf8_lossy(&regex_out),
        "output disagreement on {line:?}"
    );
}

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    proptest::sample::select(options)
}

fn date() -> impl Strategy<Value = String> {
    (
        pick(&["10", "1", "01", "32", "0", "3", "31", "29", "x"]),
        pick(&["Oct", "October", "oct", "Junk", "May", "Sept", ""]),
        pick(&["2000", "0200", "1", "20a"]),
        pick(&["13", "1", "24", "23", "09", "003"]),
        pick(&["55", "5", "60", "09"]),
        pick(&[
            "36", "60", "61", "6", "36.123", "36,5", "36:", "36.", "360", "36:7",
        ]),
        pick(&[" ", "\t", "  ", "", "\r", "\u{a0}"]),
        pick(&["-0700", "+0000", "0700", "-07:00", "", "+", "--1"]),
    )
        .prop_map(|(d, m, y, h, mi, s, ws, z)| format!("{d}/{m}/{y}:{h}:{mi}:{s}{ws}{z}"))
}

fn line() -> impl Strategy<Value = String> {
    (
        pick(&[
            "192.168.1.10",
            "lj1036.inktomisearch.com",
            "a-b.c.",
            "2001:db8::1",
            "[::1]",
            "..",
            "1..2",
            ".a",
            "a..b",
            "-",
            "é.com",
            "host_1",
            "",
        ]),
        pick(&["-", "frank", "bob@x.com", "a.b_c-d", ""]),
        pick(&["-", "frank", "x y", "é"]),
        date(),
        pick(&[
            "\"GET / HTTP/1.1\"",
            "\"\"",
            "\"a\\\"b\"",
            "\"GET /\u{2028} x\"",
            "\"GET /\r\"",
            " \"GET\"",
            "\"x\" ",
        ]),
        pick(&["200", "-", "+5", "-5", "2x", "", "--"]),
        pick(&["2326", "-", "-x", "+", "12a", "-12", ""]),
        pick(&[
            "",
            " \"http://x/\" \"Mozilla/5.0 (X11)\"",
            " \"-\" \"curl\"",
            " \"-\" \"\"",
            " \"a\" \"Agent \\\"x\\\" y\"",
            " \"a\"\"b\"",
            " \"a\" \"b\" tail",
            " \"a\" \"b\"\r",
        ]),
        pick(&["", "\r", " extra", "\u{2028}", "\t", "\u{85}", "\n"]),
    )
        .prop_map(|(h, i, u, d, r, s, b, c, t)| format!("{h} {i} {u} [{d}] {r} {s} {b}{c}{t}"))
}

fn mutated_line() -> impl Strategy<Value = String> {
    (
        line(),
        proptest::collection::vec(
            (
                any::<prop::sample::Index>(),
                0u8..3,
                pick(&[
                    " ", "\"", "[", "]", "-", "\r", "\n", "/", ":", "a", "1", "é", "\u{85}",
                    "\u{2028}", ".", "\t", "+",
                ]),
            ),
            0..3,
        ),
    )
        .prop_map(|(line, edits)| {
            let mut chars: Vec<char> = line.chars().collect();
            for (at, op, text) in edits {
                if chars.is_empty() {
                    break;
                }
                let i = at.index(chars.len());
                match op {
                    0 => {
                        chars.remove(i);
                    }
                    1 => chars.splice(i..i, text.chars()).for_each(drop),
                    _ => chars.splice(i..=i, text.chars()).for_each(drop),
                }
            }
            chars.into_iter().collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn common_fast_parser_agrees_with_regex(line in mutated_line()) {
        assert_agree(converter(LogFormat::CommonApache), &line);
    }

    #[test]
    fn combined_fast_parser_agrees_with_regex(line in mutated_line()) {
        assert_agree(converter(LogFormat::CombinedApache), &line);
    }
}

#[test]
fn fast_parsers_agree_on_every_apache_vector_input() {
    let common = converter(LogFormat::CommonApache);
    let combined = converter(LogFormat::CombinedApache);
    let mut lines = 0;
    for entry in std::fs::read_dir(firetail_testkit::vectors_dir()).unwrap() {
        let case = entry.unwrap().path();
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        if !(name.contains("apache") || name.contains("common") || name.contains("combined")) {
            continue;
        }
        let expected = std::fs::read_to_string(case.join("expected.jsonl")).unwrap_or_default();
        for rec in expected.lines() {
            let rec: serde_json::Value = serde_json::from_str(rec).unwrap();
            let Some(b64) = rec.get("input_b64").and_then(|v| v.as_str()) else {
                continue;
            };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap();
            let text = firetail_agent::utf8::decode(&bytes);
            let line = text.strip_suffix('\n').unwrap_or(&text);
            assert_agree(common, line);
            assert_agree(combined, line);
            lines += 1;
        }
    }
    assert!(lines > 1000, "only {lines} lines");
}
