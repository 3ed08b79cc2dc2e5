//! Throughput of the send path for 200-byte records, the project's reference load:
//! - `sink_loop`: `run_sink` against a client that accepts everything at once: batching,
//!   request tasks, acknowledgements (the sink's own cost).
//! - `firehose_sdk`: `FirehoseClient` (the real AWS SDK: JSON, base64, SigV4, HTTP/1.1)
//!   against a loopback stub that answers a canned 500-entry response. The stub runs on
//!   the same single-threaded runtime, so the time is an upper bound on the client's CPU.
//!
//! Run: `cargo bench -p firetail-sink --bench throughput`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use firetail_record::{Acker, FileId, Span};
use firetail_sink::{
    run_sink, DestinationKind, FirehoseClient, NoopEvents, OutRecord, PutClient, PutError,
    PutFuture, RecordResult, SinkConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const RECORD_BYTES: usize = 200;
const RECORDS: usize = 50_000;

fn records() -> Vec<OutRecord> {
    let line = Bytes::from(vec![b'x'; RECORD_BYTES]);
    (0..RECORDS as u64)
        .map(|i| OutRecord {
            data: line.clone(),
            span: Span {
                file: FileId(1),
                start: i * RECORD_BYTES as u64,
                end: (i + 1) * RECORD_BYTES as u64,
            },
            partition_key: None,
        })
        .collect()
}

struct AcceptAll;

impl PutClient for AcceptAll {
    fn put_batch<'a>(&'a self, _stream: &'a str, records: &'a [OutRecord]) -> PutFuture<'a> {
        let n = records.len();
        Box::pin(async move { Ok::<_, PutError>(vec![RecordResult::Ok; n]) })
    }

    fn kind(&self) -> DestinationKind {
        DestinationKind::Firehose
    }
}

async fn run_once<C: PutClient>(client: Arc<C>, input: Vec<OutRecord>) {
    let mut cfg = SinkConfig::agent_defaults("bench", "bench", DestinationKind::Firehose);
    cfg.max_age = Duration::from_secs(1);
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let (acker, mut acks) = Acker::channel();
    let feeder = tokio::spawn(async move {
        let mut input = input;
        while !input.is_empty() {
            let rest = input.split_off(input.len().min(1000));
            tx.send(std::mem::replace(&mut input, rest)).await.unwrap();
        }
    });
    let drain = tokio::spawn(async move { while acks.recv().await.is_some() {} });
    let summary = run_sink(
        cfg,
        client,
        rx,
        acker,
        Arc::new(NoopEvents),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(summary.records_accepted as usize, RECORDS);
    feeder.await.unwrap();
    drain.await.unwrap();
}

/// A loopback HTTP server answering every request with `response`, reading and
/// discarding the body.
async fn stub(response: Arc<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let response = Arc::clone(&response);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 1 << 16];
                let mut filled = 0;
                loop {
                    let head_end = loop {
                        if let Some(p) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                        if filled == buf.len() {
                            buf.resize(buf.len() * 2, 0);
                        }
                        match socket.read(&mut buf[filled..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => filled += n,
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    let mut remaining = (head_end + length).saturating_sub(filled);
                    let leftover = filled.saturating_sub(head_end + length);
                    buf.copy_within(filled - leftover..filled, 0);
                    filled = leftover;
                    let mut sink = vec![0u8; 1 << 16];
                    while remaining > 0 {
                        match socket.read(&mut sink[..remaining.min(1 << 16)]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => remaining -= n,
                        }
                    }
                    if socket.write_all(&response).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    endpoint
}

fn canned_response() -> Arc<Vec<u8>> {
    let entries =
        vec![r#"{"RecordId":"49543463076548007577105092703039560359975228518395019266"}"#; 500];
    let body = format!(
        r#"{{"FailedPutCount":0,"Encrypted":false,"RequestResponses":[{}]}}"#,
        entries.join(",")
    );
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    Arc::new([head.into_bytes(), body.into_bytes()].concat())
}

fn firehose_client(endpoint: &str) -> FirehoseClient {
    use aws_sdk_firehose::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_firehose::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "bench"))
        .endpoint_url(endpoint)
        .build();
    FirehoseClient::new(&aws_sdk_firehose::Client::from_conf(config))
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("send_200B_records");
    group.throughput(Throughput::Bytes((RECORDS * RECORD_BYTES) as u64));
    group.sample_size(10);

    let input = records();
    group.bench_function("sink_loop", |b| {
        let client = Arc::new(AcceptAll);
        b.iter(|| runtime.block_on(run_once(Arc::clone(&client), input.clone())));
    });

    let endpoint = runtime.block_on(stub(canned_response()));
    let client = Arc::new(firehose_client(&endpoint));
    group.bench_function("firehose_sdk", |b| {
        b.iter(|| runtime.block_on(run_once(Arc::clone(&client), input.clone())));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
