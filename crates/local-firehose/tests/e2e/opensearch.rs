//! The OpenSearch destination against a stand-in `_bulk` endpoint on 127.0.0.1 that records
//! every request and answers per document: `"fail":"mapping"` gets a 400 mapping error,
//! `"fail":"busy"` a 429 on its first attempt only. (scripts/test-pipeline runs the same
//! destination against a real OpenSearch node.)

use std::io::Read;
use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use firetail_local_firehose::Options;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::common::{harness, objects, record, Harness};

/// The bulk bodies received, one `(action, source)` list per request.
type Received = Arc<Mutex<Vec<Vec<(Value, Value)>>>>;

async fn fake_opensearch() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let seen = Arc::clone(&received);
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| bulk(Arc::clone(&seen), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    (url, received)
}

async fn bulk(
    seen: Received,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    assert_eq!(req.uri().path(), "/_bulk");
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let lines: Vec<Value> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let pairs: Vec<(Value, Value)> = lines
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    let mut received = seen.lock().unwrap();
    let earlier = received.iter().flatten().count();
    let items: Vec<Value> = pairs
        .iter()
        .map(|(action, source)| {
            let index = &action["index"]["_index"];
            let retried = earlier > 0 && source["fail"] == "busy";
            match source["fail"].as_str() {
                Some("mapping") => json!({"index": {"_index": index, "status": 400,
                    "error": {"type": "mapper_parsing_exception", "reason": "failed to parse"}}}),
                Some("busy") if !retried => json!({"index": {"_index": index, "status": 429,
                    "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}}),
                _ => json!({"index": {"_index": index, "_id": "x", "status": 201}}),
            }
        })
        .collect();
    received.push(pairs);
    let answer = json!({"took": 1, "errors": true, "items": items});
    Ok(Response::new(Full::new(Bytes::from(answer.to_string()))))
}

async fn create(h: &Harness, name: &str, extra: Value) {
    let mut input = json!({
        "DeliveryStreamName": name,
        "DeliveryStreamType": "DirectPut",
        "AmazonopensearchserviceDestinationConfiguration": {
            "RoleARN": "arn:aws:iam::000000000000:role/firehose",
            "DomainARN": "arn:aws:es:eu-west-1:000000000000:domain/logs",
            "IndexName": "firetail-raw",
            "IndexRotationPeriod": "OneDay",
            "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 5},
            "RetryOptions": {"DurationInSeconds": 30},
            "S3BackupMode": "FailedDocumentsOnly",
            "S3Configuration": {
                "RoleARN": "arn:aws:iam::000000000000:role/firehose",
                "BucketARN": "arn:aws:s3:::raw-bucket",
                "Prefix": "opensearch-failed/raw/!{timestamp:yyyy/MM/dd}/",
                "CompressionFormat": "GZIP"
            }
        }
    });
    for (k, v) in extra.as_object().unwrap() {
        input["AmazonopensearchserviceDestinationConfiguration"][k] = v.clone();
    }
    let answer = raw_call(h, "CreateDeliveryStream", &input).await;
    assert!(answer.get("DeliveryStreamARN").is_some(), "{answer}");
}

/// An API call with the JSON the AWS CLI would send for a `--cli-input-json` file.
async fn raw_call(h: &Harness, op: &str, body: &Value) -> Value {
    let stream = tokio::net::TcpStream::connect(h.server.local_addr())
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::post("/")
        .header("x-amz-target", format!("Firehose_20150804.{op}"))
        .header("authorization", "AWS4-HMAC-SHA256 test")
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

/// The failed-document lines of the gzipped backup objects.
fn backups(h: &Harness) -> Vec<Value> {
    let mut out = Vec::new();
    for path in objects(h.dir.path()) {
        let rel = path
            .strip_prefix(h.dir.path())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            rel.starts_with("raw-bucket/opensearch-failed/raw/"),
            "{rel}"
        );
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        out.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    out
}

#[tokio::test]
async fn records_are_bulk_indexed_into_the_rotated_index_with_stable_ids() {
    let (url, received) = fake_opensearch().await;
    let h = harness(Options {
        opensearch_url: Some(url),
        ..Default::default()
    })
    .await;
    create(&h, "raw-index", json!({})).await;
    let recs = (0..5).map(|i| record(format!("{{\"n\":{i}}}\n"))).collect();
    let out = h.put_batch("raw-index", recs).await.unwrap();
    assert_eq!(out.failed_put_count, 0);
    h.server.flush().await;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let bulks = received.lock().unwrap().clone();
    assert_eq!(bulks.len(), 1);
    let docs = &bulks[0];
    assert_eq!(docs.len(), 5);
    for (i, (action, source)) in docs.iter().enumerate() {
        assert_eq!(action["index"]["_index"], format!("firetail-raw-{today}"));
        assert!(action["index"]["_id"]
            .as_str()
            .unwrap()
            .ends_with(&format!("-{i}")));
        assert_eq!(source, &json!({"n": i}));
    }
    let stats = h.server.stats();
    assert_eq!(
        (
            stats.opensearch_documents_indexed,
            stats.opensearch_documents_failed
        ),
        (5, 0)
    );
    assert!(objects(h.dir.path()).is_empty(), "nothing to back up");
    h.server.shutdown().await;
}

#[tokio::test]
async fn busy_documents_are_retried_and_bad_ones_backed_up_to_s3() {
    let (url, received) = fake_opensearch().await;
    let h = harness(Options {
        opensearch_url: Some(url),
        ..Default::default()
    })
    .await;
    create(
        &h,
        "aggregates",
        json!({"IndexRotationPeriod": "NoRotation", "DocumentIdOptions": {"DefaultDocumentIdFormat": "NO_DOCUMENT_ID"}}),
    )
    .await;
    let recs = vec![
        record(r#"{"ok":1}"#),
        record(r#"{"fail":"busy"}"#),
        record(r#"{"fail":"mapping"}"#),
        record("not json\n"),
    ];
    h.put_batch("aggregates", recs).await.unwrap();
    h.server.flush().await;
    let bulks = received.lock().unwrap().clone();
    // The first request carries the three JSON documents, the retry only the busy one.
    assert_eq!(bulks.len(), 2, "{bulks:?}");
    assert_eq!(bulks[0].len(), 3);
    assert_eq!(bulks[1].len(), 1);
    assert_eq!(bulks[1][0].1, json!({"fail": "busy"}));
    assert!(bulks[0].iter().all(|(a, _)| a["index"]["_id"].is_null()));
    assert_eq!(bulks[0][0].0["index"]["_index"], "firetail-raw");
    let stats = h.server.stats();
    assert_eq!(stats.opensearch_documents_indexed, 2);
    assert_eq!(stats.opensearch_documents_failed, 2);
    let failed = backups(&h);
    let codes: Vec<&str> = failed
        .iter()
        .map(|f| f["errorCode"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["mapper_parsing_exception", "OS.MalformedData"]);
    let raw = base64::engine::general_purpose::STANDARD
        .decode(failed[1]["rawData"].as_str().unwrap())
        .unwrap();
    assert_eq!(raw, b"not json\n");
    assert_eq!(failed[0]["attemptsMade"], 1);
    assert_eq!(failed[0]["esIndexName"], "firetail-raw");
    h.server.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_domain_backs_everything_up_after_the_retry_duration() {
    // A port nothing listens on: bind, note it, close.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let h = harness(Options {
        opensearch_url: Some(url),
        ..Default::default()
    })
    .await;
    create(
        &h,
        "down",
        json!({"RetryOptions": {"DurationInSeconds": 1}}),
    )
    .await;
    h.put_batch("down", vec![record(r#"{"a":1}"#), record(r#"{"b":2}"#)])
        .await
        .unwrap();
    h.server.flush().await;
    let failed = backups(&h);
    assert_eq!(failed.len(), 2);
    assert!(failed
        .iter()
        .all(|f| f["errorCode"] == "OS.ConnectionFailed"));
    assert!(failed[0]["attemptsMade"].as_u64().unwrap() >= 2, "retried");
    assert!(h.server.stats().opensearch_retries >= 1);
    h.server.shutdown().await;
}

#[tokio::test]
async fn a_domain_arn_needs_an_opensearch_url() {
    let h = harness(Options::default()).await;
    let input = json!({"DeliveryStreamName": "x",
        "AmazonopensearchserviceDestinationConfiguration": {
            "DomainARN": "arn:aws:es:eu-west-1:000000000000:domain/logs", "IndexName": "i",
            "S3Configuration": {"RoleARN": "r", "BucketARN": "arn:aws:s3:::b"}}});
    let answer = raw_call(&h, "CreateDeliveryStream", &input).await;
    assert_eq!(answer["__type"], "InvalidArgumentException", "{answer}");
    h.server.shutdown().await;
}
