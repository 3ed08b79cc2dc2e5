//! The same PutRecordBatch requests against moto (a third-party Firehose) and against
//! firetail's local Firehose: both must deliver the same bytes, records concatenated
//! exactly as sent, with nothing added between them.

use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use aws_sdk_firehose::Client;

use crate::support::moto::moto;

/// Batches of records with awkward bytes: lines, a record without a newline, binary
/// with NULs, invalid UTF-8, CRLF, a 100 KB record.
fn batches() -> Vec<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for b in 0..6u8 {
        let mut batch = Vec::new();
        for i in 0..(20 + usize::from(b) * 13) {
            let rec = match i % 6 {
                0 => format!("batch {b} line {i}\n").into_bytes(),
                1 => format!("no newline {b}/{i}").into_bytes(),
                2 => vec![0, 1, 2, 0xff, 0xfe, b, i as u8, b'\n'],
                3 => b"caf\xc3\xa9 \xed\xa0\x80 invalid\r\n".to_vec(),
                4 => vec![b'x'; 100_000 + i],
                _ => format!("{{\"json\":{i}}}\n").into_bytes(),
            };
            batch.push(rec);
        }
        out.push(batch);
    }
    out
}

async fn send_all(client: &Client, stream: &str, batches: &[Vec<Vec<u8>>]) {
    for batch in batches {
        let records: Vec<Record> = batch
            .iter()
            .map(|r| {
                Record::builder()
                    .data(Blob::new(r.clone()))
                    .build()
                    .unwrap()
            })
            .collect();
        let out = client
            .put_record_batch()
            .delivery_stream_name(stream)
            .set_records(Some(records))
            .send()
            .await
            .expect("PutRecordBatch");
        assert_eq!(out.failed_put_count(), 0);
    }
}

fn local_client(endpoint: &str) -> Client {
    let conf = aws_sdk_firehose::Config::builder()
        .behavior_version(aws_sdk_firehose::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_firehose::config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .build();
    Client::from_conf(conf)
}

#[tokio::test]
async fn moto_and_local_firehose_deliver_the_same_bytes() {
    let batches = batches();
    let per_call: Vec<Vec<u8>> = batches.iter().map(|b| b.concat()).collect();
    let everything: Vec<u8> = per_call.concat();

    // moto: one S3 object per call, holding that call's records back to back.
    let moto = moto().await;
    moto.create_s3_stream("same-bytes", "same-bytes-bucket")
        .await;
    send_all(&moto.firehose(), "same-bytes", &batches).await;
    let mut moto_objects: Vec<Vec<u8>> = moto
        .objects("same-bytes-bucket")
        .await
        .into_iter()
        .map(|(_, body)| body)
        .collect();
    let mut expected_objects = per_call.clone();
    moto_objects.sort();
    expected_objects.sort();
    assert_eq!(
        moto_objects.len(),
        expected_objects.len(),
        "one object per call"
    );
    assert!(
        moto_objects == expected_objects,
        "moto's objects differ from the calls"
    );

    // local-firehose: buffered into larger objects, but the same bytes in the same order.
    let dir = tempfile::tempdir().unwrap();
    let server = firetail_local_firehose::start(firetail_local_firehose::Options {
        dir: dir.path().to_path_buf(),
        auto_create: true,
        ..Default::default()
    })
    .await
    .unwrap();
    send_all(
        &local_client(&server.endpoint_url()),
        "same-bytes",
        &batches,
    )
    .await;
    let delivered: Vec<u8> = server.delivered("same-bytes").concat();
    assert!(
        delivered == everything,
        "local-firehose's accepted records differ"
    );
    server.flush().await;
    let mut files = Vec::new();
    collect_files(dir.path(), &mut files);
    // Objects are written one after another; names share a one-second timestamp, so
    // order them by when they were written.
    files.sort_by_key(|f| (std::fs::metadata(f).unwrap().modified().unwrap(), f.clone()));
    let written: Vec<u8> = files
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect();
    assert_eq!(
        written.len(),
        everything.len(),
        "bytes in S3-layout objects"
    );
    assert!(
        written == everything,
        "local-firehose's objects differ from moto's bytes"
    );
    server.shutdown().await;
}

fn collect_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}
