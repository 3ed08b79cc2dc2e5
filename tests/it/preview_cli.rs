//! `firetail preview` as a user runs it: the real binary on a few vector cases, its
//! `jsonl` output field by field against the Kinesis Agent's records, its human format,
//! and its exit codes for a bad flow file (1) and an unreadable input (2).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// The keys every `jsonl` line has, and the ones it may have.
const REQUIRED_KEYS: [&str; 5] = ["index", "offset", "length", "status", "output_b64"];
const OPTIONAL_KEYS: [&str; 2] = ["truncated", "partition_key"];

fn preview(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_firetail"))
        .arg("preview")
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("FIRETAIL_LOG_LEVEL")
        .output()
        .expect("run firetail preview")
}

/// The arguments for one vector case: its flow (`flow.json`, else a default Firehose
/// flow written to `scratch`), `--options`, `--arrival`, then `extra`, then the input.
fn case_args(case: &str, scratch: &Path, extra: &[&str]) -> Vec<std::ffi::OsString> {
    let dir = firetail_testkit::vectors_dir().join(case);
    assert!(dir.is_dir(), "no vector case {}", dir.display());
    let flow = match dir.join("flow.json") {
        f if f.is_file() => f,
        _ => {
            let f = scratch.join(format!("{case}.flow.json"));
            let default = serde_json::json!({
                "filePattern": "/var/log/app/app.log*",
                "deliveryStream": "s",
                "initialPosition": "START_OF_FILE"
            });
            std::fs::write(&f, default.to_string()).unwrap();
            f
        }
    };
    let mut args = vec!["--flow".into(), flow.into_os_string()];
    let options = dir.join("options.json");
    if options.is_file() {
        args.extend(["--options".into(), options.into_os_string()]);
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("arrival.json")) {
        let arrival: Value = serde_json::from_str(&text).unwrap();
        let chunks: Vec<String> = arrival["chunks"]
            .as_array()
            .expect("arrival.json has chunks")
            .iter()
            .map(|n| n.as_u64().expect("chunk size").to_string())
            .collect();
        args.extend(["--arrival".into(), chunks.join(",").into()]);
    }
    args.extend(extra.iter().map(|a| a.into()));
    args.push(dir.join("input.bin").into_os_string());
    args
}

fn run_case(case: &str, scratch: &Path, extra: &[&str]) -> Output {
    let args = case_args(case, scratch, extra);
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    preview(&refs)
}

fn expected_records(case: &str) -> Vec<Value> {
    std::fs::read_to_string(
        firetail_testkit::vectors_dir()
            .join(case)
            .join("expected.jsonl"),
    )
    .unwrap()
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect()
}

/// One `jsonl` line against the agent's record: the exact key set, then each value.
fn check_record(case: &str, got: &Value, want: &Value) {
    let obj = got
        .as_object()
        .unwrap_or_else(|| panic!("{case}: not a JSON object: {got}"));
    for key in REQUIRED_KEYS {
        assert!(obj.contains_key(key), "{case}: {key} missing in {got}");
    }
    for key in obj.keys() {
        assert!(
            REQUIRED_KEYS.contains(&key.as_str()) || OPTIONAL_KEYS.contains(&key.as_str()),
            "{case}: unexpected key {key} in {got}"
        );
    }
    for key in REQUIRED_KEYS {
        assert_eq!(got[key], want[key], "{case}: {key} of {got}");
    }
    let truncated = want["truncated"].as_bool().unwrap_or(false);
    assert_eq!(
        got.get("truncated")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        truncated,
        "{case}: truncated of {got}"
    );
    if truncated {
        assert_eq!(got["truncated"], Value::Bool(true), "{case}: {got}");
    }
    assert_eq!(
        got.get("partition_key"),
        want.get("partition_key"),
        "{case}: partition_key of {got}"
    );
}

#[test]
fn jsonl_output_matches_the_agent_records() {
    let scratch = tempfile::tempdir().unwrap();
    for case in [
        "logtojson_combined_basic",
        "framing_aggregated_records_arrival",
        "csv_basic",
    ] {
        let out = run_case(case, scratch.path(), &["--format", "jsonl"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{case}: {}: {stderr}", out.status);
        let stdout = String::from_utf8(out.stdout).expect("jsonl output is UTF-8");
        let got: Vec<Value> = stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{case}: bad line {l:?}: {e}"))
            })
            .collect();
        let want = expected_records(case);
        assert!(!want.is_empty(), "{case}: no expected records");
        assert_eq!(got.len(), want.len(), "{case}: record count\n{stdout}");
        for (g, w) in got.iter().zip(&want) {
            check_record(case, g, w);
        }
    }
}

#[test]
fn human_output_prints_every_record() {
    let scratch = tempfile::tempdir().unwrap();
    for case in [
        "logtojson_combined_basic",
        "framing_aggregated_records_arrival",
        "csv_basic",
    ] {
        let out = run_case(case, scratch.path(), &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{case}: {}: {stderr}", out.status);
        let stdout = String::from_utf8(out.stdout).expect("human output is UTF-8");
        for want in expected_records(case) {
            let offset = want["offset"].as_u64().unwrap();
            let header = format!(
                "#{} bytes {}..{} {}",
                want["index"],
                offset,
                offset + want["length"].as_u64().unwrap(),
                want["status"].as_str().unwrap()
            );
            assert!(
                stdout.lines().any(|l| l.starts_with(&header)),
                "{case}: no {header:?} in\n{stdout}"
            );
        }
    }
}

#[test]
fn a_bad_flow_file_exits_1_naming_the_file() {
    let scratch = tempfile::tempdir().unwrap();
    let input = firetail_testkit::vectors_dir().join("csv_basic/input.bin");
    let not_json = scratch.path().join("broken-flow.json");
    std::fs::write(&not_json, "{ \"filePattern\": ").unwrap();
    let no_stream = scratch.path().join("streamless-flow.json");
    std::fs::write(&no_stream, r#"{ "filePattern": "/var/log/app.log" }"#).unwrap();
    for flow in [&not_json, &no_stream] {
        let out = preview(&[
            "--flow".as_ref(),
            flow.as_os_str(),
            "--format".as_ref(),
            "jsonl".as_ref(),
            input.as_os_str(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", flow.display());
        assert!(
            stderr.contains(&*flow.to_string_lossy()),
            "the message does not name {}: {stderr}",
            flow.display()
        );
        assert!(out.stdout.is_empty(), "printed records for a bad flow");
    }
}

#[test]
fn a_missing_input_file_exits_2_naming_it() {
    let scratch = tempfile::tempdir().unwrap();
    let missing = scratch.path().join("no-such.log");
    let args = case_args("csv_basic", scratch.path(), &["--format", "jsonl"]);
    let mut refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    *refs.last_mut().unwrap() = missing.as_os_str();
    let out = preview(&refs);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&*missing.to_string_lossy()),
        "the message does not name {}: {stderr}",
        missing.display()
    );
}

#[test]
fn arrival_steps_that_do_not_add_up_to_the_file_exit_2() {
    let scratch = tempfile::tempdir().unwrap();
    let out = run_case(
        "csv_basic",
        scratch.path(),
        &["--arrival", "1,2,3", "--format", "jsonl"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--arrival"), "{stderr}");
}

/// A flow without `initialPosition` (the default is END_OF_FILE) still previews the
/// whole file: a preview shows the file, and `--help` says so.
#[test]
fn preview_reads_the_file_from_its_start_whatever_initial_position_says() {
    let scratch = tempfile::tempdir().unwrap();
    let input = scratch.path().join("app.log");
    std::fs::write(&input, "one\ntwo\n").unwrap();
    for position in [None, Some("END_OF_FILE"), Some("START_OF_FILE")] {
        let mut flow =
            serde_json::json!({"filePattern": "/var/log/app.log", "deliveryStream": "s"});
        if let Some(p) = position {
            flow["initialPosition"] = p.into();
        }
        let flow_path = scratch.path().join("flow.json");
        std::fs::write(&flow_path, flow.to_string()).unwrap();
        let out = preview(&[
            "--flow".as_ref(),
            flow_path.as_os_str(),
            "--format".as_ref(),
            "jsonl".as_ref(),
            input.as_os_str(),
        ]);
        assert!(out.status.success(), "{position:?}: {out:?}");
        let lines = String::from_utf8(out.stdout).unwrap();
        assert_eq!(lines.lines().count(), 2, "{position:?}: {lines}");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_firetail"))
        .args(["preview", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("from its first byte") && help.contains("initialPosition"),
        "{help}"
    );
}
