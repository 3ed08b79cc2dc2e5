//! Throughput of the send path for 200-byte records, the project's reference load:
//! - `sink_loop`: `run_sink` against a client that accepts everything at once: batching,
//!   request tasks, acknowledgements (the sink's own cost).
//! - `firehose_sdk`: `FirehoseClient` (the real AWS SDK: JSON, base64, SigV4, HTTP/1.1)
//!   against a loopback stub that answers a canned 500-entry response. The stub runs on
//!   the same single-threaded runtime, so the time is an upper bound on the client's CPU.
//!
//! Run: `cargo bench -p firetail-sink --bench throughput`; with `SINK_BENCH_CPU=200` it
//! first prints CPU seconds per GiB for each case.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use firetail_record::{Acker, FileId, Span};
use firetail_sink::{
    run_sink, DestinationLimits, FirehoseClient, NoopEvents, OutRecord, PutClient, PutError,
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
            read_at_millis: 0,
        })
        .collect()
}

struct AcceptAll;

impl PutClient for AcceptAll {
    fn put_batch<'a>(&'a self, _stream: &'a str, records: &'a [OutRecord]) -> PutFuture<'a> {
        let n = records.len();
        Box::pin(async move { Ok::<_, PutError>(vec![RecordResult::Ok; n]) })
    }

    fn limits(&self) -> &'static DestinationLimits {
        &firetail_sink::FIREHOSE
    }
}

async fn run_once<C: PutClient>(client: Arc<C>, input: Vec<OutRecord>) {
    let mut cfg = SinkConfig::agent_defaults("bench", "bench", &firetail_sink::FIREHOSE);
    cfg.max_age = Duration::from_secs(1);
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let (acker, mut acks) = Acker::channel();
    let feeder = tokio::spawn(async move {
        let mut records = input.into_iter();
        loop {
            let chunk: Vec<OutRecord> = records.by_ref().take(1000).collect();
            if chunk.is_empty() {
                break;
            }
            tx.send(chunk).await.unwrap();
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

/// CPU seconds (user + system) this process used so far, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 (1-based), 12 and 13 after the ')' split.
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
    });
    ticks / 100.0
}

/// With `SINK_BENCH_CPU=<iterations>`, prints CPU seconds per GiB of 200-byte records for
/// each case (wall time is meaningless on a shared machine; CPU time is what we budget).
fn report_cpu(runtime: &tokio::runtime::Runtime, endpoint: &str) {
    let Some(iterations) = std::env::var("SINK_BENCH_CPU")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    let input = records();
    let gib = (iterations * RECORDS * RECORD_BYTES) as f64 / (1u64 << 30) as f64;
    let accept_all = Arc::new(AcceptAll);
    let start = cpu_seconds();
    for _ in 0..iterations {
        runtime.block_on(run_once(Arc::clone(&accept_all), input.clone()));
    }
    let sink = cpu_seconds() - start;
    let client = Arc::new(firehose_client(endpoint));
    let start = cpu_seconds();
    for _ in 0..iterations {
        runtime.block_on(run_once(Arc::clone(&client), input.clone()));
    }
    let sdk = cpu_seconds() - start;
    println!(
        "cpu per GiB of {RECORD_BYTES}-byte records: sink_loop {:.2} s, firehose_sdk+stub {:.2} s ({gib:.2} GiB each)",
        sink / gib,
        sdk / gib
    );
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let endpoint = runtime.block_on(stub(canned_response()));
    report_cpu(&runtime, &endpoint);
    let mut group = c.benchmark_group("send_200B_records");
    group.throughput(Throughput::Bytes((RECORDS * RECORD_BYTES) as u64));
    group.sample_size(10);

    let input = records();
    group.bench_function("sink_loop", |b| {
        let client = Arc::new(AcceptAll);
        b.iter(|| runtime.block_on(run_once(Arc::clone(&client), input.clone())));
    });

    let client = Arc::new(firehose_client(&endpoint));
    group.bench_function("firehose_sdk", |b| {
        b.iter(|| runtime.block_on(run_once(Arc::clone(&client), input.clone())));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
