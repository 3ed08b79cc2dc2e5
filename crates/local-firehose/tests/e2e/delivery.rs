//! Objects on disk: the S3 layout, compression, and the buffering hints.

use std::io::Read;

use aws_sdk_firehose::types::CompressionFormat;
use firetail_local_firehose::Options;

use crate::common::*;

/// Checks `<bucket>/<prefix>YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>[.gz]`.
fn assert_layout(rel: &std::path::Path, bucket: &str, prefix: &str, stream: &str, gz: bool) {
    let rel = rel.to_string_lossy();
    let rest = rel
        .strip_prefix(&format!("{bucket}/{prefix}"))
        .unwrap_or_else(|| panic!("{rel} lacks {bucket}/{prefix}"));
    let (dirs, name) = rest.rsplit_once('/').unwrap();
    let parts: Vec<&str> = dirs.split('/').collect();
    assert_eq!(parts.len(), 4, "{rel}");
    let widths: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    assert_eq!(widths, [4, 2, 2, 2], "{rel}");
    assert!(
        parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())),
        "{rel}"
    );
    let name = if gz {
        name.strip_suffix(".gz")
            .unwrap_or_else(|| panic!("{rel} lacks .gz"))
    } else {
        name
    };
    let after = name
        .strip_prefix(&format!("{stream}-1-"))
        .unwrap_or_else(|| panic!("{rel}: bad object name"));
    let (stamp, id) = after.split_at(19);
    let hour_from_dirs = parts.join("-");
    assert!(
        stamp.starts_with(&hour_from_dirs),
        "{rel}: time {stamp} vs dirs {dirs}"
    );
    assert_eq!(stamp.len(), 19);
    let id = id.strip_prefix('-').unwrap();
    assert!(uuid_like(id), "{rel}: {id}");
}

fn uuid_like(s: &str) -> bool {
    let groups: Vec<usize> = s.split('-').map(str::len).collect();
    groups == [8, 4, 4, 4, 12] && s.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
}

#[tokio::test]
async fn objects_follow_the_s3_layout() {
    let h = harness(Options::default()).await;
    create_stream(
        &h.client,
        "web",
        "logs/web/",
        5,
        300,
        CompressionFormat::Uncompressed,
    )
    .await;
    h.put_batch("web", records(20, line)).await.unwrap();
    h.server.flush().await;
    let found = objects(h.dir.path());
    assert_eq!(found.len(), 1);
    let rel = found[0].strip_prefix(h.dir.path()).unwrap();
    assert_layout(rel, "test-bucket", "logs/web/", "web", false);
    let content = std::fs::read(&found[0]).unwrap();
    assert_eq!(content, (0..20).flat_map(line).collect::<Vec<u8>>());
    assert_eq!(h.server.stats().objects_written, 1);
    h.server.shutdown().await;
}

#[tokio::test]
async fn gzip_objects_decompress_to_the_records() {
    let h = harness(Options::default()).await;
    create_stream(&h.client, "gz", "p-", 5, 300, CompressionFormat::Gzip).await;
    for chunk in 0..3 {
        h.put_batch("gz", records(100, |i| line(chunk * 100 + i)))
            .await
            .unwrap();
    }
    h.server.shutdown().await;
    let found = objects(h.dir.path());
    assert_eq!(found.len(), 1);
    assert_layout(
        found[0].strip_prefix(h.dir.path()).unwrap(),
        "test-bucket",
        "p-",
        "gz",
        true,
    );
    let mut content = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&found[0]).unwrap())
        .read_to_end(&mut content)
        .unwrap();
    assert_eq!(content, (0..300).flat_map(line).collect::<Vec<u8>>());
}

#[tokio::test]
async fn interval_hint_flushes_without_being_asked() {
    let h = harness(Options::default()).await;
    create_stream(
        &h.client,
        "tick",
        "",
        128,
        1,
        CompressionFormat::Uncompressed,
    )
    .await;
    h.client
        .put_record()
        .delivery_stream_name("tick")
        .record(record("x\n"))
        .send()
        .await
        .unwrap();
    let found = wait_for_objects(h.dir.path(), 1).await;
    assert_eq!(std::fs::read(&found[0]).unwrap(), b"x\n");
    h.server.shutdown().await;
}

#[tokio::test]
async fn size_hint_flushes_full_buffers() {
    let h = harness(Options::default()).await;
    create_stream(
        &h.client,
        "big",
        "",
        1,
        900,
        CompressionFormat::Uncompressed,
    )
    .await;
    // 2 × 300 × 2 KiB = 1.2 MiB: the second call crosses the 1 MiB hint.
    for _ in 0..2 {
        h.put_batch("big", records(300, |_| vec![b'z'; 2048]))
            .await
            .unwrap();
    }
    let found = wait_for_objects(h.dir.path(), 1).await;
    assert_eq!(std::fs::metadata(&found[0]).unwrap().len(), 600 * 2048);
    h.server.shutdown().await;
}

#[tokio::test]
async fn record_log_file_lists_every_accepted_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("records.jsonl");
    let h = harness(Options {
        auto_create: true,
        record_log: Some(log.clone()),
        ..Options::default()
    })
    .await;
    h.put_batch("s", records(5, line)).await.unwrap();
    h.server.shutdown().await;
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[4]["index"], 4);
    assert_eq!(lines[4]["len"], line(4).len());
    assert_eq!(lines[0]["sha256"].as_str().unwrap().len(), 64);
}
