//! Malformed and hostile requests over raw TCP; the server must answer AWS-style and keep serving.

use std::net::SocketAddr;
use std::time::Duration;

use firetail_local_firehose::{Options, Stats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

const TARGET: &str = "Firehose_20150804.";

/// Sends one request and returns (status, body); `Connection: close` so the body ends at EOF.
async fn send(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    read_response(&mut stream).await
}

async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw));
    // A reset after the answer was sent still leaves the answer in `raw`.
    let _ = read.await.expect("server answered in time");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn api_head(op: &str, len: usize, auth: bool) -> String {
    let auth = if auth {
        "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/firehose/aws4_request, SignedHeaders=host, Signature=00\r\n"
    } else {
        ""
    };
    format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: {TARGET}{op}\r\n\
         Content-Type: application/x-amz-json-1.1\r\n{auth}Content-Length: {len}\r\nConnection: close\r\n\r\n"
    )
}

async fn api(addr: SocketAddr, op: &str, body: &str) -> (u16, serde_json::Value) {
    let (status, text) = send(addr, &api_head(op, body.len(), true), body.as_bytes()).await;
    let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, value)
}

async fn assert_still_serving(addr: SocketAddr) {
    let (status, body) = api(
        addr,
        "PutRecordBatch",
        r#"{"DeliveryStreamName":"s","Records":[{"Data":"b2sK"}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["FailedPutCount"], 0);
}

async fn auto_create_server() -> Harness {
    harness(Options {
        auto_create: true,
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn protocol_errors_are_aws_json() {
    let h = auto_create_server().await;
    let addr = h.server.local_addr();

    let body = r#"{"DeliveryStreamName":"s","Records":[{"Data":"b2sK"}]}"#;
    let (status, text) = send(
        addr,
        &api_head("PutRecordBatch", body.len(), false),
        body.as_bytes(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        text.contains("MissingAuthenticationTokenException"),
        "{text}"
    );

    let (status, v) = api(addr, "TagDeliveryStream", "{}").await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("UnknownOperationException"))
    );

    let head = "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n";
    let (status, text) = send(addr, head, b"{}").await;
    assert_eq!(status, 400);
    assert!(text.contains("UnknownOperationException"), "{text}");

    for bad in [
        "{",
        "not json",
        r#"{"DeliveryStreamName":"s","Records":{"Data":"b2sK"}}"#,
        r#"{"DeliveryStreamName":["s"],"Records":[]}"#,
        r#"{"DeliveryStreamName":"s","Records":[{"Data":12}]}"#,
        r#"{"DeliveryStreamName":"s","Records":[{"Data":"%%%%"}]}"#,
    ] {
        let (status, v) = api(addr, "PutRecordBatch", bad).await;
        assert_eq!(
            (status, v["__type"].as_str()),
            (400, Some("SerializationException")),
            "{bad}"
        );
    }
    let (status, v) = api(addr, "CreateDeliveryStream", r#"{"DeliveryStreamName":7}"#).await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("SerializationException"))
    );
    let (status, v) = api(addr, "PutRecordBatch", r#"{"Records":[{"Data":"b2sK"}]}"#).await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("ValidationException"))
    );

    let (status, _) = send(
        addr,
        "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"",
    )
    .await;
    assert_eq!(status, 404);
    assert_still_serving(addr).await;
    h.server.shutdown().await;
}

#[tokio::test]
async fn truncated_bodies_do_not_hurt_the_server() {
    let h = auto_create_server().await;
    let addr = h.server.local_addr();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(api_head("PutRecordBatch", 1000, true).as_bytes())
        .await
        .unwrap();
    stream
        .write_all(br#"{"DeliveryStreamName":"s","Rec"#)
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    let (status, _) = read_response(&mut stream).await;
    assert_eq!(status, 0, "no answer to a request that never finished");

    // A complete body whose JSON is cut short is a serialization error.
    let (status, v) = api(
        addr,
        "PutRecordBatch",
        r#"{"DeliveryStreamName":"s","Records":[{"Da"#,
    )
    .await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("SerializationException"))
    );
    assert_still_serving(addr).await;
    assert_eq!(h.server.stats().records_accepted, 1);
    h.server.shutdown().await;
}

#[tokio::test]
async fn huge_declared_bodies_are_refused_before_reading() {
    let h = auto_create_server().await;
    let addr = h.server.local_addr();
    for declared in [5usize << 20 << 1, 64 << 20, 1 << 40] {
        // Only the head is sent: the answer must come from Content-Length alone.
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(api_head("PutRecordBatch", declared, true).as_bytes())
            .await
            .unwrap();
        let (status, body) = read_response(&mut stream).await;
        assert_eq!(status, 413, "{declared}: {body}");
        assert!(body.contains("exceeds the limit"), "{body}");
    }
    assert_still_serving(addr).await;
    h.server.shutdown().await;
}

#[tokio::test]
async fn huge_chunked_bodies_are_cut_off_at_the_cap() {
    let h = auto_create_server().await;
    let addr = h.server.local_addr();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: {TARGET}PutRecordBatch\r\nAuthorization: x\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    // Write and read at once: the server answers mid-body and then resets the connection,
    // which would discard an answer still unread.
    let sender = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await.unwrap();
        let chunk = vec![b'A'; 1 << 20];
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(&chunk);
        framed.extend_from_slice(b"\r\n");
        // 70 MiB offered; the server must answer after about 8 MiB and stop reading.
        for _ in 0..70 {
            if writer.write_all(&framed).await.is_err() {
                break;
            }
        }
    });
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut raw));
    let _ = read.await.expect("server answered in time");
    sender.abort();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert_still_serving(addr).await;
    let stats: Stats = h.server.stats();
    assert_eq!(stats.requests_rejected["RequestEntityTooLargeException"], 1);
    h.server.shutdown().await;
}

#[tokio::test]
async fn a_batch_over_4_mib_of_data_within_the_body_cap_is_refused_whole() {
    let h = auto_create_server().await;
    let addr = h.server.local_addr();
    // 500 records × 9,000 bytes = 4.29 MiB decoded, about 5.7 MiB of JSON.
    let data = "A".repeat(12_000);
    let records: Vec<String> = (0..500)
        .map(|_| format!(r#"{{"Data":"{data}"}}"#))
        .collect();
    let body = format!(
        r#"{{"DeliveryStreamName":"s","Records":[{}]}}"#,
        records.join(",")
    );
    let (status, v) = api(addr, "PutRecordBatch", &body).await;
    assert_eq!(
        (status, v["__type"].as_str()),
        (400, Some("InvalidArgumentException")),
        "{v}"
    );
    assert_still_serving(addr).await;
    h.server.shutdown().await;
}

#[tokio::test]
async fn stats_endpoint_reports_the_counters() {
    let h = auto_create_server().await;
    let addr = h.server.local_addr();
    assert_still_serving(addr).await;
    let (_, v) = api(addr, "PutRecordBatch", "{").await;
    assert_eq!(v["__type"], "SerializationException");
    h.server.flush().await;
    let (status, text) = send(
        addr,
        "GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"",
    )
    .await;
    assert_eq!(status, 200);
    let stats: Stats = serde_json::from_str(&text).unwrap();
    assert_eq!(stats, h.server.stats());
    assert_eq!(stats.requests["PutRecordBatch"], 2);
    assert_eq!(stats.requests_rejected["SerializationException"], 1);
    assert_eq!((stats.records_accepted, stats.bytes_accepted), (1, 3));
    assert_eq!(stats.objects_written, 1);
    h.server.shutdown().await;
}
