//! Every converter and configuration case in `tests/vectors` (all but `framing_*`): the chain
//! built from the case's options must reproduce the agent's records byte for byte, and a case
//! with `error.json` must be rejected. New case directories are picked up automatically.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use firetail_process::{Chain, Outcome};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// `2024-02-29T23:59:58.987Z` to epoch milliseconds.
fn parse_utc_millis(s: &str) -> i64 {
    let n = |a: usize, b: usize| -> i64 { s[a..b].parse().unwrap() };
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let millis = if s.len() > 20 { n(20, 23) } else { 0 };
    ((days * 24 + n(11, 13)) * 60 + n(14, 16)) * 60_000 + n(17, 19) * 1000 + millis
}

fn options_of(case: &Path) -> Value {
    let options = case.join("options.json");
    if options.exists() {
        return read_json(&options);
    }
    let flow = case.join("flow.json");
    if flow.exists() {
        if let Some(v) = read_json(&flow).get("dataProcessingOptions") {
            return v.clone();
        }
    }
    Value::Null
}

fn check_case(case: &Path) -> Result<usize, String> {
    let name = case.file_name().unwrap().to_string_lossy().to_string();
    let built = Chain::from_options(&options_of(case));
    if case.join("error.json").exists() {
        return match built {
            Err(_) => Ok(0),
            Ok(_) => Err(format!(
                "{name}: configuration accepted but the agent rejects it"
            )),
        };
    }
    let mut chain = built.map_err(|e| format!("{name}: configuration rejected: {e}"))?;
    let clock = case.join("clock.json");
    if clock.exists() {
        let now = parse_utc_millis(read_json(&clock)["utc_now"].as_str().unwrap());
        chain = chain.with_clock(Arc::new(move || now));
    }
    let input_bin = std::fs::read(case.join("input.bin")).unwrap();
    let expected = std::fs::read_to_string(case.join("expected.jsonl")).unwrap();
    let mut out = Vec::new();
    let mut checked = 0;
    for line in expected.lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        let index = rec["index"].as_u64().unwrap();
        let status = rec["status"].as_str().unwrap();
        if status == "exception" || rec["truncated"].as_bool() == Some(true) {
            continue;
        }
        let input = match rec.get("input_b64").and_then(Value::as_str) {
            Some(s) => b64(s),
            None => {
                let off = usize::try_from(rec["offset"].as_u64().unwrap()).unwrap();
                let len = usize::try_from(rec["length"].as_u64().unwrap()).unwrap();
                input_bin[off..off + len].to_vec()
            }
        };
        let outcome = chain.process(&input, &mut out);
        let ctx = || {
            format!(
                "{name} record {index} input {:?}",
                String::from_utf8_lossy(&input)
            )
        };
        let sent: &[u8] = match (status, outcome) {
            ("converted", Outcome::Converted) => &out,
            ("skipped", Outcome::Skipped) => {
                checked += 1;
                continue;
            }
            ("raw_fallback", Outcome::RawFallback) | ("raw", Outcome::Raw) => &input,
            _ => return Err(format!("{}: expected {status}, got {outcome:?}", ctx())),
        };
        if let Some(want) = rec.get("output_b64").and_then(Value::as_str) {
            let want = b64(want);
            if sent != want.as_slice() {
                return Err(format!(
                    "{}:\n  want {:?}\n  got  {:?}",
                    ctx(),
                    String::from_utf8_lossy(&want),
                    String::from_utf8_lossy(sent)
                ));
            }
        } else if let Some(len) = rec.get("output_length").and_then(Value::as_u64) {
            let digest = hex(&Sha256::digest(sent));
            if sent.len() as u64 != len || digest != rec["output_sha256"].as_str().unwrap() {
                return Err(format!("{}: long output differs", ctx()));
            }
        }
        checked += 1;
    }
    Ok(checked)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn every_converter_and_config_case_matches_the_agent() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(firetail_testkit::vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.starts_with("framing_")
                && (p.join("options.json").exists() || name.starts_with("config_"))
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "found only {} cases", cases.len());
    let mut failures = Vec::new();
    let mut records = 0;
    for case in &cases {
        match check_case(case) {
            Ok(n) => records += n,
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(records > 5000, "checked only {records} records");
}
