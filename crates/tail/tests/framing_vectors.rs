//! Every `framing_*` vector of the agent vector set (`tests/vectors`), byte-exact: the framer must cut the same
//! records at the same offsets as the Kinesis Agent. Converter cases are compared on
//! their framing part only (offsets, lengths, input bytes); converters run downstream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use base64::Engine;
use firetail_tail::frame::{end_of_file_start, DiscardReason, Frame, Framer, FramingConfig};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn as_usize(v: &Value) -> usize {
    match v {
        Value::String(s) => s.trim().parse().unwrap(),
        other => other.as_u64().unwrap() as usize,
    }
}

fn framing_config(flow: &Value) -> FramingConfig {
    let mut c = if flow.get("kinesisStream").is_some() {
        // The vectors' random keys are at most ~18 bytes; no record comes near the limit.
        FramingConfig::kinesis(18)
    } else {
        FramingConfig::firehose()
    };
    if let Some(p) = flow.get("multiLineStartPattern") {
        c.multi_line_start_pattern = Some(p.as_str().unwrap().to_owned());
    }
    if let Some(n) = flow.get("skipHeaderLines") {
        c.skip_header_lines = as_usize(n);
    }
    if let Some(t) = flow.get("truncatedRecordTerminator") {
        c.truncated_record_terminator = t.as_str().unwrap().as_bytes().to_vec();
    }
    if let Some(n) = flow.get("aggregatedRecordSizeBytes") {
        c.aggregated_record_size_bytes = as_usize(n);
    }
    if let Some(p) = flow.get("fileFooterPattern") {
        c.file_footer_pattern = Some(p.as_str().unwrap().to_owned());
    }
    if flow.get("dataProcessingOptions").is_some() {
        // Truncation happens after conversion, downstream.
        c.max_record_size = usize::MAX;
    }
    c
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn run_case(dir: &Path) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let input = std::fs::read(dir.join("input.bin")).unwrap();
    let flow = read_json(&dir.join("flow.json"));
    let config = framing_config(&flow);
    let rules = config.compile().unwrap();
    let chunks: Vec<usize> = match std::fs::read(dir.join("arrival.json")) {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes).unwrap()["chunks"]
            .as_array()
            .unwrap()
            .iter()
            .map(as_usize)
            .collect(),
        Err(_) => vec![input.len()],
    };

    let end_of_file = flow.get("initialPosition").and_then(Value::as_str) == Some("END_OF_FILE");
    let start = if end_of_file {
        let first = &input[..chunks[0]];
        let window_start = first.len().saturating_sub(config.read_buffer_size);
        end_of_file_start(&first[window_start..], window_start as u64)
    } else {
        0
    };
    let mut framer = Framer::new(rules, start);
    let mut frames = Vec::new();
    let mut end = 0usize;
    for step in chunks {
        let from = end.max(start as usize);
        end += step;
        if from < end {
            framer.push(&input[from..end], &mut frames);
        }
        framer.end_of_data(&mut frames);
    }

    let expected: Vec<Value> = std::fs::read_to_string(dir.join("expected.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let records: Vec<_> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Record(r) => Some(r),
            Frame::Discarded(_) => None,
        })
        .collect();
    assert_eq!(records.len(), expected.len(), "{name}: record count");
    let converted = flow.get("dataProcessingOptions").is_some();
    for (rec, exp) in records.iter().zip(&expected) {
        let idx = &exp["index"];
        if exp["status"] == "exception" {
            continue; // no offset recorded; the framing still produced a record here
        }
        assert_eq!(
            rec.offset,
            exp["offset"].as_u64().unwrap(),
            "{name} #{idx}: offset"
        );
        assert_eq!(
            rec.len,
            exp["length"].as_u64().unwrap(),
            "{name} #{idx}: length"
        );
        let covered = &input[rec.offset as usize..(rec.offset + rec.len) as usize];
        match exp.get("input_b64") {
            Some(v) => assert_eq!(covered, &b64(v)[..], "{name} #{idx}: input"),
            None => assert_eq!(sha256_hex(covered), exp["input_sha256"].as_str().unwrap()),
        }
        assert_eq!(
            rec.larger_than_buffer,
            exp.get("larger_than_buffer") == Some(&Value::Bool(true)),
            "{name} #{idx}: larger_than_buffer"
        );
        if converted {
            continue;
        }
        assert_eq!(
            Value::Bool(rec.truncated),
            exp["truncated"],
            "{name} #{idx}: truncated"
        );
        match exp.get("output_b64") {
            Some(v) => assert_eq!(&rec.data[..], &b64(v)[..], "{name} #{idx}: output"),
            None => {
                assert_eq!(
                    rec.data.len() as u64,
                    exp["output_length"].as_u64().unwrap()
                );
                assert_eq!(
                    sha256_hex(&rec.data),
                    exp["output_sha256"].as_str().unwrap()
                );
            }
        }
    }

    let summary = read_json(&dir.join("summary.json"));
    assert_eq!(
        framer.pending_len() as u64,
        summary["unemitted_buffered_bytes"].as_u64().unwrap(),
        "{name}: unemitted bytes"
    );
    assert_eq!(
        framer.read_position(),
        input.len() as u64,
        "{name}: everything pushed"
    );
    let after_footer: u64 = frames
        .iter()
        .filter_map(|f| match f {
            Frame::Discarded(d) if d.reason == DiscardReason::AfterFooter => Some(d.len),
            _ => None,
        })
        .sum();
    if after_footer > 0 {
        assert_eq!(
            after_footer,
            summary["bytes_discarded"].as_u64().unwrap(),
            "{name}"
        );
    }
    // Frames tile the file from the start offset: acknowledging them all reaches the end.
    let mut at = start;
    for f in &frames {
        assert_eq!(f.offset(), at, "{name}: frames must be contiguous");
        at += f.len();
    }
    assert_eq!(at, framer.position());
}

#[test]
fn every_framing_vector() {
    let dir = firetail_testkit::vectors_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("framing_"))
        })
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 17,
        "expected the 17 framing cases in {}",
        dir.display()
    );
    for case in &cases {
        run_case(case);
    }
}
