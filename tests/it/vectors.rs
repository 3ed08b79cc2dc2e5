//! Every case in `tests/vectors`, converter and framing alike, through the same code
//! path `firetail preview` uses: configuration loading, framing, the processing chain,
//! truncation and partition keys. A case added to the folder is picked up as it is.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

fn read_json(path: &Path) -> Option<Value> {
    let bytes = std::fs::read(path).ok()?;
    Some(serde_json::from_slice(&bytes).expect("vector JSON"))
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64 string"))
        .expect("base64")
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The case's flow: `flow.json` or a default Firehose flow, with `options.json` as its
/// `dataProcessingOptions`, loaded through the real configuration parser.
fn flow_config(dir: &Path) -> String {
    let mut flow = read_json(&dir.join("flow.json")).unwrap_or_else(
        || serde_json::json!({"filePattern": "/var/log/app/app.log*", "deliveryStream": "s"}),
    );
    if let Some(options) = read_json(&dir.join("options.json")) {
        flow["dataProcessingOptions"] = options;
    }
    if flow.get("initialPosition").is_none() {
        flow["initialPosition"] = "START_OF_FILE".into();
    }
    serde_json::json!({ "flows": [flow] }).to_string()
}

fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(firetail_testkit::vectors_dir())
        .expect("vectors dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("input.bin").is_file())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_vector_case_matches_the_kinesis_agent() {
    let dirs = case_dirs();
    assert!(dirs.len() >= 64, "only {} vector cases found", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        if let Err(e) = run_case(dir) {
            failures.push(format!(
                "{}: {e}",
                dir.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}

fn run_case(dir: &Path) -> Result<(), String> {
    let text = flow_config(dir);
    let rejected = dir.join("error.json").is_file();
    let built = firetail::preview::PreviewFlow::from_agent_json(&text, "vector", None, clock(dir));
    let preview = match (built, rejected) {
        (Err(_), true) => return Ok(()),
        (Ok(_), true) => return Err("accepted a configuration the agent rejects".into()),
        (Err(e), false) => return Err(format!("rejected a valid configuration: {e:#}")),
        (Ok(p), false) => p,
    };
    let input = std::fs::read(dir.join("input.bin")).map_err(|e| e.to_string())?;
    let arrival: Option<Vec<usize>> = read_json(&dir.join("arrival.json")).map(|a| {
        a["chunks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| n.as_u64().unwrap_or(0) as usize)
            .collect()
    });
    let got = preview
        .run(&input, arrival.as_deref())
        .map_err(|e| format!("{e:#}"))?;
    let expected: Vec<Value> = std::fs::read_to_string(dir.join("expected.jsonl"))
        .map_err(|e| e.to_string())?
        .lines()
        .map(|l| serde_json::from_str(l).expect("expected.jsonl"))
        .collect();
    if got.len() != expected.len() {
        return Err(format!(
            "{} records, expected {}",
            got.len(),
            expected.len()
        ));
    }
    for (g, e) in got.iter().zip(&expected) {
        compare(g, e).map_err(|m| format!("record {}: {m}", g.index))?;
    }
    Ok(())
}

fn clock(dir: &Path) -> Option<String> {
    read_json(&dir.join("clock.json")).and_then(|c| c["utc_now"].as_str().map(str::to_string))
}

fn compare(g: &firetail::preview::PreviewRecord, e: &Value) -> Result<(), String> {
    let status = e["status"].as_str().unwrap_or_default();
    if status == "exception" {
        // The agent throws building a DETERMINISTIC Kinesis record for a skipped line;
        // either way nothing is sent.
        return if g.output.is_none() {
            Ok(())
        } else {
            Err("sent a record the agent does not".into())
        };
    }
    if g.status.as_str() != status {
        return Err(format!("status {} != {status}", g.status.as_str()));
    }
    if g.offset != e["offset"].as_u64().unwrap_or(u64::MAX)
        || g.length != e["length"].as_u64().unwrap_or(u64::MAX)
    {
        return Err(format!(
            "span {}+{} != {}+{}",
            g.offset, g.length, e["offset"], e["length"]
        ));
    }
    if let Some(want) = e.get("partition_key").and_then(Value::as_str) {
        if g.partition_key.as_deref() != Some(want) {
            return Err(format!("partition key {:?} != {want}", g.partition_key));
        }
    }
    match (&g.output, e.get("output_b64")) {
        (None, Some(Value::Null)) | (None, None) if status == "skipped" => Ok(()),
        (Some(out), Some(v)) if !v.is_null() => {
            let want = b64(v);
            if out[..] == want[..] {
                Ok(())
            } else {
                Err(format!(
                    "output differs:\n  got  {:?}\n  want {:?}",
                    String::from_utf8_lossy(out),
                    String::from_utf8_lossy(&want)
                ))
            }
        }
        (Some(out), None) => {
            let len = e["output_length"].as_u64().unwrap_or(0);
            let sha = e["output_sha256"].as_str().unwrap_or_default();
            if out.len() as u64 == len && sha256_hex(out) == sha {
                Ok(())
            } else {
                Err(format!(
                    "long output differs: {} bytes, want {len}",
                    out.len()
                ))
            }
        }
        (out, want) => Err(format!(
            "output {:?} vs expected {want:?}",
            out.as_ref().map(|o| o.len())
        )),
    }
}
