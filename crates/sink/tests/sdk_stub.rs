//! The real aws-sdk-firehose / aws-sdk-kinesis clients against a tiny HTTP stub on
//! 127.0.0.1 that answers canned JSON: checks the request shape (PutRecordBatch,
//! PutRecords with partition keys), the per-record response mapping (including partial
//! failures), the whole-call error classification, and that SDK retries are off.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use firetail_record::{Acker, FileId, Span};
use firetail_sink::{
    run_sink, FirehoseClient, KinesisClient, NoopEvents, OutRecord, PutClient, PutError,
    RecordResult, SinkConfig,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// What the stub does with the next request.
enum Canned {
    Json {
        status: u16,
        body: Value,
    },
    /// Close the connection without answering.
    Hangup,
    /// Never answer.
    Stall,
}

struct Captured {
    target: String,
    body: Value,
    /// The request head as sent (request line and headers) and the body's bytes.
    head: String,
    raw_body: Vec<u8>,
}

#[derive(Clone)]
struct Stub {
    endpoint: String,
    answers: Arc<Mutex<VecDeque<Canned>>>,
    requests: Arc<Mutex<Vec<Captured>>>,
}

impl Stub {
    async fn start() -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stub = Stub {
            endpoint: format!("http://{}", listener.local_addr().unwrap()),
            answers: Arc::default(),
            requests: Arc::default(),
        };
        let server = stub.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(server.clone().serve(socket));
            }
        });
        stub
    }

    fn answer(&self, canned: Canned) {
        self.answers.lock().unwrap().push_back(canned);
    }

    fn ok(&self, body: Value) {
        self.answer(Canned::Json { status: 200, body });
    }

    fn error(&self, status: u16, code: &str, message: &str) {
        self.answer(Canned::Json {
            status,
            body: json!({"__type": code, "message": message}),
        });
    }

    fn requests(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    fn request(&self, i: usize) -> (String, Value) {
        let requests = self.requests.lock().unwrap();
        (requests[i].target.clone(), requests[i].body.clone())
    }

    async fn serve(self, mut socket: TcpStream) {
        let mut buf = Vec::new();
        loop {
            let Some((head_len, content_length, target)) = read_head(&mut socket, &mut buf).await
            else {
                return;
            };
            while buf.len() < head_len + content_length {
                let mut chunk = [0u8; 8192];
                match socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let raw_body = buf[head_len..head_len + content_length].to_vec();
            let body: Value = serde_json::from_slice(&raw_body).unwrap_or(Value::Null);
            let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
            buf.drain(..head_len + content_length);
            self.requests.lock().unwrap().push(Captured {
                target,
                body,
                head,
                raw_body,
            });
            let canned = self.answers.lock().unwrap().pop_front();
            match canned {
                Some(Canned::Json { status, body }) => {
                    let body = body.to_string();
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
                Some(Canned::Hangup) | None => return,
                Some(Canned::Stall) => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
            }
        }
    }
}

/// Reads up to the end of the request head; returns its length, the Content-Length and
/// the X-Amz-Target header.
async fn read_head(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(usize, usize, String)> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let header = |name: &str| {
                head.lines()
                    .filter_map(|line| line.split_once(':'))
                    .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
                    .map(|(_, value)| value.trim().to_owned())
            };
            let length = header("content-length")?.parse().ok()?;
            return Some((end + 4, length, header("x-amz-target").unwrap_or_default()));
        }
        let mut chunk = [0u8; 8192];
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn firehose(stub: &Stub) -> FirehoseClient {
    use aws_sdk_firehose::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_firehose::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .endpoint_url(&stub.endpoint)
        // The sink must switch this off.
        .retry_config(aws_sdk_firehose::config::retry::RetryConfig::standard().with_max_attempts(5))
        .timeout_config(
            aws_sdk_firehose::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(300))
                .build(),
        )
        .build();
    FirehoseClient::new(&aws_sdk_firehose::Client::from_conf(config))
}

fn kinesis(stub: &Stub) -> KinesisClient {
    use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .endpoint_url(&stub.endpoint)
        .retry_config(aws_sdk_kinesis::config::retry::RetryConfig::standard().with_max_attempts(5))
        .build();
    KinesisClient::new(&aws_sdk_kinesis::Client::from_conf(config))
}

fn records(n: u64, key: bool) -> Vec<OutRecord> {
    (0..n)
        .map(|i| OutRecord {
            data: Bytes::from(format!("line {i}\n")),
            span: Span {
                file: FileId(7),
                start: i * 100,
                end: (i + 1) * 100,
            },
            partition_key: key.then(|| format!("key-{i}").into()),
            read_at_millis: 0,
        })
        .collect()
}

fn decoded(entry: &Value) -> String {
    let data = entry["Data"].as_str().unwrap();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn firehose_partial_failure_maps_per_record() {
    let stub = Stub::start().await;
    stub.ok(json!({
        "FailedPutCount": 1,
        "Encrypted": false,
        "RequestResponses": [
            {"RecordId": "a"},
            {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."},
            {"RecordId": "c"}
        ]
    }));
    let client = firehose(&stub);
    let results = client
        .put_batch("my-stream", &records(3, false))
        .await
        .unwrap();
    assert_eq!(
        results,
        [
            RecordResult::Ok,
            RecordResult::Failed {
                code: "ServiceUnavailableException".into(),
                message: "Slow down.".into()
            },
            RecordResult::Ok
        ]
    );
    let (target, body) = stub.request(0);
    assert_eq!(target, "Firehose_20150804.PutRecordBatch");
    assert_eq!(body["DeliveryStreamName"], "my-stream");
    let sent: Vec<String> = body["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(decoded)
        .collect();
    assert_eq!(sent, ["line 0\n", "line 1\n", "line 2\n"]);
}

#[tokio::test]
async fn kinesis_put_records_shape_and_partial_failure() {
    let stub = Stub::start().await;
    stub.ok(json!({
        "FailedRecordCount": 1,
        "Records": [
            {"SequenceNumber": "1", "ShardId": "shardId-000000000000"},
            {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded for shard"}
        ]
    }));
    let client = kinesis(&stub);
    let results = client.put_batch("logs", &records(2, true)).await.unwrap();
    assert_eq!(results[0], RecordResult::Ok);
    assert!(
        matches!(&results[1], RecordResult::Failed { code, .. } if code == "ProvisionedThroughputExceededException")
    );
    let (target, body) = stub.request(0);
    assert_eq!(target, "Kinesis_20131202.PutRecords");
    assert_eq!(body["StreamName"], "logs");
    let entries = body["Records"].as_array().unwrap();
    assert_eq!(entries[1]["PartitionKey"], "key-1");
    assert_eq!(decoded(&entries[1]), "line 1\n");
    assert!(entries[0].get("ExplicitHashKey").is_none());

    // An ARN goes in StreamARN.
    stub.ok(json!({"FailedRecordCount": 0, "Records": [{"SequenceNumber": "2", "ShardId": "s"}]}));
    let arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/logs";
    client.put_batch(arn, &records(1, true)).await.unwrap();
    let (_, body) = stub.request(1);
    assert_eq!(body["StreamARN"], arn);
    assert!(body.get("StreamName").is_none());
}

/// The per-record ids are dropped before the SDK decodes an answer (`trim`): ids of a
/// type the SDK could not decode prove it, since the answer still maps record by record.
#[tokio::test]
async fn answers_are_decoded_without_their_per_record_ids() {
    let stub = Stub::start().await;
    stub.ok(json!({
        "FailedPutCount": 1,
        "RequestResponses": [
            {"RecordId": {"not": ["a", "string"]}},
            {"ErrorCode": "InternalFailure", "ErrorMessage": "m", "RecordId": 7}
        ]
    }));
    let results = firehose(&stub)
        .put_batch("s", &records(2, false))
        .await
        .unwrap();
    assert_eq!(results[0], RecordResult::Ok);
    assert!(matches!(&results[1], RecordResult::Failed { code, .. } if code == "InternalFailure"));

    stub.ok(json!({
        "FailedRecordCount": 0,
        "Records": [{"SequenceNumber": [1, 2], "ShardId": {"x": null}}]
    }));
    let results = kinesis(&stub)
        .put_batch("k", &records(1, true))
        .await
        .unwrap();
    assert_eq!(results, [RecordResult::Ok]);
}

/// The request bodies are encoded by firetail and swapped in before signing
/// (`wire::HandEncoded`): the signature must cover the records actually sent, or AWS
/// rejects every call. Recomputed here from the captured request with the same
/// credentials and time.
#[tokio::test]
async fn the_signature_covers_the_body_that_was_sent() {
    let stub = Stub::start().await;
    stub.ok(
        json!({"FailedPutCount": 0, "RequestResponses": [{"RecordId": "a"}, {"RecordId": "b"}]}),
    );
    firehose(&stub)
        .put_batch("signed", &records(2, false))
        .await
        .unwrap();
    stub.ok(json!({"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "s"}]}));
    kinesis(&stub)
        .put_batch("signed", &records(1, true))
        .await
        .unwrap();
    for (i, (region, service)) in [("us-east-1", "firehose"), ("eu-west-1", "kinesis")]
        .into_iter()
        .enumerate()
    {
        let captured = &stub.requests.lock().unwrap()[i];
        assert!(captured.raw_body.windows(6).any(|w| w == b"signed"));
        assert_eq!(
            recomputed_signature(&captured.head, &captured.raw_body, region, service),
            header_signature(&captured.head),
            "{service}"
        );
    }
}

fn header(head: &str, name: &str) -> String {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap()
}

fn header_signature(head: &str) -> String {
    header(head, "authorization")
        .rsplit("Signature=")
        .next()
        .unwrap()
        .to_owned()
}

fn recomputed_signature(head: &str, body: &[u8], region: &str, service: &str) -> String {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let authorization = header(head, "authorization");
    let signed: Vec<&str> = authorization
        .split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .split(';')
        .collect();
    let headers: Vec<(String, String)> = signed
        .iter()
        .map(|name| (name.to_string(), header(head, name)))
        .collect();
    let date = header(head, "x-amz-date");
    let time = chrono::NaiveDateTime::parse_from_str(&date, "%Y%m%dT%H%M%SZ")
        .unwrap()
        .and_utc();
    let time = std::time::UNIX_EPOCH + Duration::from_secs(time.timestamp() as u64);
    let identity =
        aws_credential_types::Credentials::new("AKID", "SECRET", None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let uri = format!("http://{}/", header(head, "host"));
    let request = SignableRequest::new(
        "POST",
        uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (_, signature) = sign(request, &params).unwrap().into_parts();
    signature
}

#[tokio::test]
async fn whole_call_errors_are_classified_and_not_retried_by_the_sdk() {
    let stub = Stub::start().await;
    let client = firehose(&stub);
    let batch = records(2, false);

    stub.error(
        400,
        "ResourceNotFoundException",
        "Firehose my-stream not found.",
    );
    let err = client.put_batch("my-stream", &batch).await.unwrap_err();
    assert_eq!(
        err,
        PutError::Permanent {
            code: "ResourceNotFoundException".into(),
            message: "Firehose my-stream not found.".into()
        }
    );

    stub.error(400, "ServiceUnavailableException", "Slow down.");
    let err = client.put_batch("my-stream", &batch).await.unwrap_err();
    assert!(
        matches!(err, PutError::Throttled { ref code, .. } if code == "ServiceUnavailableException"),
        "{err:?}"
    );

    stub.error(500, "InternalFailure", "oops");
    let err = client.put_batch("my-stream", &batch).await.unwrap_err();
    assert!(
        matches!(err, PutError::Transient { timeout: false, .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), "InternalFailure");

    stub.error(400, "AccessDeniedException", "not allowed");
    assert!(!client
        .put_batch("my-stream", &batch)
        .await
        .unwrap_err()
        .is_retryable());

    stub.error(
        400,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    );
    assert!(!client
        .put_batch("my-stream", &batch)
        .await
        .unwrap_err()
        .is_retryable());

    // Each failure above was one request: the SDK's own retries are off.
    assert_eq!(stub.requests(), 5);

    stub.answer(Canned::Hangup);
    let err = client.put_batch("my-stream", &batch).await.unwrap_err();
    assert!(err.is_retryable() && !err.is_timeout(), "{err:?}");

    stub.answer(Canned::Stall);
    let err = client.put_batch("my-stream", &batch).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(stub.requests(), 7);
}

#[tokio::test]
async fn kinesis_errors_are_classified() {
    let stub = Stub::start().await;
    let client = kinesis(&stub);
    let batch = records(1, true);
    stub.error(
        400,
        "ProvisionedThroughputExceededException",
        "Rate exceeded",
    );
    assert!(matches!(
        client.put_batch("logs", &batch).await.unwrap_err(),
        PutError::Throttled { .. }
    ));
    stub.error(400, "KMSDisabledException", "key disabled");
    assert!(!client
        .put_batch("logs", &batch)
        .await
        .unwrap_err()
        .is_retryable());
    stub.error(
        400,
        "ResourceNotFoundException",
        "Stream logs under account 1 not found.",
    );
    assert_eq!(
        client.put_batch("logs", &batch).await.unwrap_err().code(),
        "ResourceNotFoundException"
    );
    assert_eq!(stub.requests(), 3);
}

#[tokio::test]
async fn missing_credentials_are_a_permanent_error() {
    let stub = Stub::start().await;
    use aws_sdk_firehose::config::{BehaviorVersion, Region};
    let config = aws_sdk_firehose::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&stub.endpoint)
        .build();
    let client = FirehoseClient::new(&aws_sdk_firehose::Client::from_conf(config));
    let err = client.put_batch("s", &records(1, false)).await.unwrap_err();
    assert_eq!(err.code(), "CredentialsNotLoaded", "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(stub.requests(), 0);
}

#[tokio::test]
async fn run_sink_over_the_sdk_retries_only_the_failed_records() {
    let stub = Stub::start().await;
    stub.ok(json!({
        "FailedPutCount": 2,
        "RequestResponses": [
            {"ErrorCode": "InternalFailure", "ErrorMessage": "x"},
            {"RecordId": "b"},
            {"RecordId": "c"},
            {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
        ]
    }));
    stub.ok(
        json!({"FailedPutCount": 0, "RequestResponses": [{"RecordId": "a"}, {"RecordId": "d"}]}),
    );
    let client = Arc::new(firehose(&stub));
    let mut cfg = SinkConfig::agent_defaults("fh", "my-stream", client.limits());
    cfg.max_records = 4;
    cfg.retry_initial_backoff = Duration::from_millis(1);
    cfg.retry_max_backoff = Duration::from_millis(5);
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let (acker, mut acks) = Acker::channel();
    tx.send(records(4, false)).await.unwrap();
    drop(tx);
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
    assert_eq!(summary.records_accepted, 4);
    assert_eq!(summary.requests, 2);
    let (_, retry) = stub.request(1);
    let resent: Vec<String> = retry["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(decoded)
        .collect();
    assert_eq!(resent, ["line 0\n", "line 3\n"]);
    let mut acked = Vec::new();
    while let Some(span) = acks.try_recv() {
        acked.push((span.start, span.end));
    }
    assert_eq!(acked, [(100, 300), (0, 100), (300, 400)]);
}
