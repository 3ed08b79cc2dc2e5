//! End-to-end throughput on loopback: clients fire `PutRecordBatch` requests of 500 × 200-byte
//! records at a `--discard` server running on ONE core (a current-thread runtime), and the
//! record payload rate is printed. A second run keeps records (buffers and writes objects).
//!
//! Run: `cargo bench -p firetail-local-firehose --bench throughput`
//! Knobs: `LF_SECONDS` (default 5), `LF_CONNECTIONS` (default 4), `LF_RECORD_BYTES` (200).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

const RECORDS: usize = 500;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn body(record_bytes: usize) -> Bytes {
    let data = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; record_bytes]);
    let records: Vec<String> = (0..RECORDS)
        .map(|_| format!(r#"{{"Data":"{data}"}}"#))
        .collect();
    Bytes::from(format!(
        r#"{{"DeliveryStreamName":"bench","Records":[{}]}}"#,
        records.join(",")
    ))
}

/// Starts the server on its own thread with a single-threaded runtime; returns its address.
fn start_server(discard: bool, dir: std::path::PathBuf) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = firetail_local_firehose::start(firetail_local_firehose::Options {
                auto_create: true,
                discard,
                dir,
                memory_log_cap: 0,
                ..Default::default()
            })
            .await
            .unwrap();
            tx.send(server.local_addr()).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}

async fn client(addr: SocketAddr, body: Bytes, until: Instant, done: Arc<AtomicU64>) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    while Instant::now() < until {
        let req = Request::post("/")
            .header("host", "localhost")
            .header("x-amz-target", "Firehose_20150804.PutRecordBatch")
            .header("content-type", "application/x-amz-json-1.1")
            .header("authorization", "AWS4-HMAC-SHA256 Credential=bench")
            .body(Full::new(body.clone()))
            .unwrap();
        let response = sender.send_request(req).await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.into_body().collect().await.unwrap();
        done.fetch_add(1, Ordering::Relaxed);
    }
}

fn measure(label: &str, discard: bool) {
    let seconds = env("LF_SECONDS", 5);
    let connections = env("LF_CONNECTIONS", 4);
    let record_bytes = env("LF_RECORD_BYTES", 200) as usize;
    let dir = std::env::temp_dir().join(format!("local-firehose-bench-{}", std::process::id()));
    let addr = start_server(discard, dir.clone());
    let body = body(record_bytes);
    let done = Arc::new(AtomicU64::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    rt.block_on(async {
        let clients: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(client(addr, body.clone(), until, Arc::clone(&done))))
            .collect();
        for c in clients {
            c.await.unwrap();
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let requests = done.load(Ordering::Relaxed) as f64;
    let payload = requests * (RECORDS * record_bytes) as f64;
    println!(
        "{label}: {:.0} req/s, {:.0} records/s, {:.1} MiB/s record payload ({:.1} MiB/s on the wire), \
         {connections} connections, {record_bytes}-byte records, {elapsed:.1} s",
        requests / elapsed,
        requests * RECORDS as f64 / elapsed,
        payload / elapsed / (1 << 20) as f64,
        requests * body.len() as f64 / elapsed / (1 << 20) as f64,
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: run briefly.
    if std::env::args().any(|a| a == "--test") || !std::env::args().any(|a| a == "--bench") {
        std::env::set_var("LF_SECONDS", "1");
    }
    measure("discard", true);
    measure("keep (objects written)", false);
}
