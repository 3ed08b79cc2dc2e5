//! The Amazon OpenSearch Service destination: buffered records are bulk-indexed into a real
//! OpenSearch node, the way Firehose does it.
//!
//! - Each record is one document: its bytes without trailing whitespace must be a JSON
//!   object (Firehose's requirement for this destination); anything else fails as a document.
//! - The index is `IndexName` plus the rotation suffix of the chunk's arrival time in UTC
//!   (`-YYYY-MM-DD-HH`, `-YYYY-MM-DD`, `-YYYY-wWW`, `-YYYY-MM`, or none).
//! - Document ids: Firehose's own (`DocumentIdOptions` absent or `FIREHOSE_DEFAULT`), stable
//!   across retries so a retried document is not indexed twice; none with `NO_DOCUMENT_ID`.
//! - Items the node answers 429 or 5xx, and whole requests that fail on the connection, are
//!   retried with backoff until `RetryOptions.DurationInSeconds` has passed; any other item
//!   error (a mapping error, a version conflict) fails at once.
//! - Failed documents go to the S3 backup (`S3Configuration`) as Firehose writes them: one
//!   JSON line each with the error, the attempt count and the raw data in base64. With
//!   `S3BackupMode: AllDocuments`, every record is also written there as received.
//!
//! One task delivers every OpenSearch chunk in arrival order, so the versions of a document
//! sent in order are applied in order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, Datelike, Utc};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::delivery::WriterMsg;
use crate::stats::StatsCell;
use crate::streams::{Chunk, Compression, StreamConfig};

/// First wait before retrying; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long one bulk request may take before it counts as a failed attempt.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// `IndexRotationPeriod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexRotation {
    /// The index name as given.
    NoRotation,
    /// `-YYYY-MM-DD-HH`.
    OneHour,
    /// `-YYYY-MM-DD`.
    OneDay,
    /// `-YYYY-wWW` (ISO week).
    OneWeek,
    /// `-YYYY-MM`.
    OneMonth,
}

impl IndexRotation {
    /// Parses the API's value.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "NoRotation" => IndexRotation::NoRotation,
            "OneHour" => IndexRotation::OneHour,
            "OneDay" => IndexRotation::OneDay,
            "OneWeek" => IndexRotation::OneWeek,
            "OneMonth" => IndexRotation::OneMonth,
            _ => return None,
        })
    }

    /// The API's value.
    pub fn api_name(self) -> &'static str {
        match self {
            IndexRotation::NoRotation => "NoRotation",
            IndexRotation::OneHour => "OneHour",
            IndexRotation::OneDay => "OneDay",
            IndexRotation::OneWeek => "OneWeek",
            IndexRotation::OneMonth => "OneMonth",
        }
    }

    /// The index a record arriving at `at` goes to.
    pub fn index_name(self, base: &str, at: DateTime<Utc>) -> String {
        match self {
            IndexRotation::NoRotation => base.to_string(),
            IndexRotation::OneHour => format!("{base}-{}", at.format("%Y-%m-%d-%H")),
            IndexRotation::OneDay => format!("{base}-{}", at.format("%Y-%m-%d")),
            IndexRotation::OneWeek => {
                let week = at.iso_week();
                format!("{base}-{}-w{:02}", week.year(), week.week())
            }
            IndexRotation::OneMonth => format!("{base}-{}", at.format("%Y-%m")),
        }
    }
}

/// A stream's OpenSearch destination.
#[derive(Debug, Clone)]
pub struct OpenSearchConfig {
    /// `http://host:port` of the node every domain ARN resolves to here.
    pub endpoint: String,
    /// `IndexName`.
    pub index_name: String,
    /// `IndexRotationPeriod`.
    pub rotation: IndexRotation,
    /// Whether Firehose sets document ids (`FIREHOSE_DEFAULT`) or leaves them to OpenSearch.
    pub document_ids: bool,
    /// `RetryOptions.DurationInSeconds`.
    pub retry_for: Duration,
    /// `S3BackupMode: AllDocuments` (else failed documents only).
    pub backup_all: bool,
    /// Where failed (and, with `backup_all`, all) documents go: bucket, prefix, compression.
    pub backup: StreamConfig,
}

/// What the delivery task is asked to do.
#[derive(Debug)]
pub(crate) enum OpenSearchMsg {
    /// Index one chunk.
    Deliver(Box<Chunk>),
    /// Answer once every chunk sent before is indexed or backed up (and the backups are
    /// queued to the writer).
    Barrier(oneshot::Sender<()>),
}

/// One document's fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DocFailure {
    /// Worth another attempt (429, 5xx, no answer).
    Retryable(String, String),
    /// Final (mapping error, version conflict, not JSON).
    Permanent(String, String),
}

/// Runs until the channel closes: delivers chunks one at a time, in order.
pub(crate) async fn run(
    mut rx: mpsc::Receiver<OpenSearchMsg>,
    writer: mpsc::Sender<WriterMsg>,
    stats: Arc<StatsCell>,
) {
    while let Some(msg) = rx.recv().await {
        match msg {
            OpenSearchMsg::Deliver(chunk) => deliver_chunk(*chunk, &writer, &stats).await,
            // The flusher may have given up waiting; nothing to do then.
            OpenSearchMsg::Barrier(done) => drop(done.send(())),
        }
    }
}

/// One document of a chunk.
struct Doc {
    id: Option<String>,
    source: Bytes,
    attempts: u32,
    failure: Option<DocFailure>,
}

async fn deliver_chunk(chunk: Chunk, writer: &mpsc::Sender<WriterMsg>, stats: &StatsCell) {
    let Some(os) = chunk.config.opensearch.clone() else {
        return;
    };
    let index = os.rotation.index_name(&os.index_name, chunk.first_arrival);
    let chunk_id = uuid::Uuid::new_v4().simple().to_string();
    let mut docs = split_documents(&chunk, &chunk_id, os.document_ids);
    let deadline = Instant::now() + os.retry_for;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let pending: Vec<usize> = (0..docs.len())
            .filter(|&i| docs[i].attempts == 0 || is_retryable(&docs[i].failure))
            .filter(|&i| !matches!(docs[i].failure, Some(DocFailure::Permanent(..))))
            .collect();
        if pending.is_empty() {
            break;
        }
        if docs.iter().any(|d| d.attempts > 0) {
            if Instant::now() >= deadline {
                break;
            }
            stats.lock().opensearch_retries += 1;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        attempt(&os.endpoint, &index, &mut docs, &pending, stats).await;
    }
    finish(&chunk, &os, &index, docs, writer, stats).await;
}

fn is_retryable(failure: &Option<DocFailure>) -> bool {
    matches!(failure, Some(DocFailure::Retryable(..)))
}

/// The chunk's records as documents; records that are not one JSON object fail at once.
fn split_documents(chunk: &Chunk, chunk_id: &str, document_ids: bool) -> Vec<Doc> {
    let data = Bytes::copy_from_slice(&chunk.data);
    let mut start = 0;
    let mut docs = Vec::with_capacity(chunk.ends.len());
    for (i, &end) in chunk.ends.iter().enumerate() {
        let raw = data.slice(start..end);
        start = end;
        let trimmed_len = raw.len()
            - raw
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
        let source = raw.slice(..trimmed_len);
        let failure = match serde_json::from_slice::<Value>(&source) {
            Ok(Value::Object(_)) if !source.contains(&b'\n') => None,
            _ => Some(DocFailure::Permanent(
                "OS.MalformedData".into(),
                "the record is not one JSON object".into(),
            )),
        };
        docs.push(Doc {
            id: document_ids.then(|| format!("{chunk_id}-{i}")),
            source: if failure.is_some() { raw } else { source },
            attempts: 0,
            failure,
        });
    }
    docs
}

/// One bulk request for the `pending` documents; records each one's outcome.
async fn attempt(
    endpoint: &str,
    index: &str,
    docs: &mut [Doc],
    pending: &[usize],
    stats: &StatsCell,
) {
    let mut body = Vec::new();
    for &i in pending {
        let mut action = json!({ "index": { "_index": index } });
        if let Some(id) = &docs[i].id {
            action["index"]["_id"] = json!(id);
        }
        body.extend_from_slice(action.to_string().as_bytes());
        body.push(b'\n');
        body.extend_from_slice(&docs[i].source);
        body.push(b'\n');
        docs[i].attempts += 1;
    }
    stats.lock().opensearch_bulk_requests += 1;
    let outcome = tokio::time::timeout(REQUEST_TIMEOUT, post_bulk(endpoint, body)).await;
    let items = match outcome {
        Ok(Ok(items)) if items.len() == pending.len() => items,
        Ok(Ok(items)) => {
            let why = format!(
                "{} items answered for {} documents",
                items.len(),
                pending.len()
            );
            vec![Some(DocFailure::Retryable("OS.BadResponse".into(), why)); pending.len()]
        }
        Ok(Err(why)) => {
            vec![Some(DocFailure::Retryable("OS.ConnectionFailed".into(), why)); pending.len()]
        }
        Err(_) => vec![
            Some(DocFailure::Retryable(
                "OS.Timeout".into(),
                "no answer".into()
            ));
            pending.len()
        ],
    };
    for (&i, failure) in pending.iter().zip(items) {
        docs[i].failure = failure;
    }
}

/// POSTs a bulk body; each item's failure (None: indexed), or why the request failed.
async fn post_bulk(endpoint: &str, body: Vec<u8>) -> Result<Vec<Option<DocFailure>>, String> {
    let authority = endpoint
        .strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
        .ok_or_else(|| format!("{endpoint}: only http:// endpoints are supported"))?;
    let stream = TcpStream::connect(authority)
        .await
        .map_err(|e| format!("connect {authority}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let conn_task = tokio::spawn(conn);
    let request = Request::builder()
        .method(Method::POST)
        .uri("/_bulk")
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/x-ndjson")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("read: {e}"))?
        .to_bytes();
    conn_task.abort();
    if status != StatusCode::OK {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
        return Err(format!("HTTP {status}: {text}"));
    }
    parse_bulk_response(&bytes)
}

/// Each item's failure from a `_bulk` answer.
pub(crate) fn parse_bulk_response(bytes: &[u8]) -> Result<Vec<Option<DocFailure>>, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("bulk answer is not JSON: {e}"))?;
    let items = value
        .get("items")
        .and_then(Value::as_array)
        .ok_or("bulk answer has no items")?;
    Ok(items
        .iter()
        .map(|item| {
            let result = item
                .as_object()
                .and_then(|o| o.values().next())
                .cloned()
                .unwrap_or_default();
            let status = result.get("status").and_then(Value::as_u64).unwrap_or(0);
            if (200..300).contains(&status) {
                return None;
            }
            let error = result.get("error").cloned().unwrap_or_default();
            let code = error
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string();
            let reason = error
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let message = format!("{status}: {reason}");
            Some(if status == 429 || status >= 500 {
                DocFailure::Retryable(code, message)
            } else {
                DocFailure::Permanent(code, message)
            })
        })
        .collect())
}

/// Counts, and sends the S3 backups to the writer.
async fn finish(
    chunk: &Chunk,
    os: &OpenSearchConfig,
    index: &str,
    docs: Vec<Doc>,
    writer: &mpsc::Sender<WriterMsg>,
    stats: &StatsCell,
) {
    let now = Utc::now();
    let arrival = chunk.first_arrival.timestamp_millis();
    let mut failed = Vec::new();
    let mut indexed = 0u64;
    for (i, doc) in docs.iter().enumerate() {
        let Some(DocFailure::Retryable(code, message) | DocFailure::Permanent(code, message)) =
            &doc.failure
        else {
            indexed += 1;
            continue;
        };
        let line = json!({
            "attemptsMade": doc.attempts,
            "arrivalTimestamp": arrival,
            "errorCode": code,
            "errorMessage": message,
            "attemptEndingTimestamp": now.timestamp_millis(),
            "rawData": base64::engine::general_purpose::STANDARD.encode(&doc.source),
            "subsequenceNumber": i,
            "esDocumentId": doc.id,
            "esIndexName": index,
        });
        failed.extend_from_slice(line.to_string().as_bytes());
        failed.push(b'\n');
    }
    let failed_count = docs.len() as u64 - indexed;
    {
        let mut s = stats.lock();
        s.opensearch_documents_indexed += indexed;
        s.opensearch_documents_failed += failed_count;
    }
    if failed_count > 0 {
        tracing::warn!(
            stream = &*chunk.config.name,
            index,
            failed = failed_count,
            "documents failed; backed up to S3"
        );
        send_backup(chunk, &os.backup, failed, writer).await;
    }
    if os.backup_all {
        send_backup(chunk, &os.backup, chunk.data.clone(), writer).await;
    }
}

async fn send_backup(
    chunk: &Chunk,
    backup: &StreamConfig,
    data: Vec<u8>,
    writer: &mpsc::Sender<WriterMsg>,
) {
    let object = Chunk {
        config: backup.clone(),
        ends: Vec::new(),
        data,
        first_arrival: chunk.first_arrival,
    };
    if writer
        .send(WriterMsg::Write(Box::new(object)))
        .await
        .is_err()
    {
        tracing::error!("object writer is gone; a backup of OpenSearch documents is lost");
    }
}

/// The backup's compression as Firehose names it.
pub(crate) fn compression_of(value: Option<&str>) -> Option<Compression> {
    match value {
        None | Some("UNCOMPRESSED") => Some(Compression::Uncompressed),
        Some("GZIP") => Some(Compression::Gzip),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rotation_suffixes_follow_firehose() {
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 7, 5, 4).unwrap();
        let name = |r: IndexRotation| r.index_name("firetail-raw", t);
        assert_eq!(name(IndexRotation::NoRotation), "firetail-raw");
        assert_eq!(name(IndexRotation::OneHour), "firetail-raw-2026-01-02-07");
        assert_eq!(name(IndexRotation::OneDay), "firetail-raw-2026-01-02");
        assert_eq!(name(IndexRotation::OneWeek), "firetail-raw-2026-w01");
        assert_eq!(name(IndexRotation::OneMonth), "firetail-raw-2026-01");
        // 1 January 2027 is a Friday of ISO week 53 of 2026.
        let new_year = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            IndexRotation::OneWeek.index_name("x", new_year),
            "x-2026-w53"
        );
        for r in ["NoRotation", "OneHour", "OneDay", "OneWeek", "OneMonth"] {
            assert_eq!(
                IndexRotation::parse(r).map(IndexRotation::api_name),
                Some(r)
            );
        }
        assert_eq!(IndexRotation::parse("OneYear"), None);
    }

    #[test]
    fn bulk_answers_sort_items_into_indexed_retryable_and_final() {
        let answer = br#"{"took":3,"errors":true,"items":[
            {"index":{"_index":"a","_id":"1","status":201}},
            {"index":{"_index":"a","status":429,"error":{"type":"es_rejected_execution_exception","reason":"busy"}}},
            {"index":{"_index":"a","status":400,"error":{"type":"mapper_parsing_exception","reason":"bad"}}},
            {"index":{"_index":"a","status":409,"error":{"type":"version_conflict_engine_exception","reason":"old"}}}]}"#;
        let items = parse_bulk_response(answer).unwrap();
        assert_eq!(items[0], None);
        assert!(
            matches!(&items[1], Some(DocFailure::Retryable(code, _)) if code == "es_rejected_execution_exception")
        );
        assert!(
            matches!(&items[2], Some(DocFailure::Permanent(code, _)) if code == "mapper_parsing_exception")
        );
        assert!(matches!(&items[3], Some(DocFailure::Permanent(..))));
        assert!(parse_bulk_response(b"{}").is_err());
        assert!(parse_bulk_response(b"not json").is_err());
    }

    #[test]
    fn records_become_documents_without_their_newline() {
        let mut config = StreamConfig::auto_created("s");
        config.opensearch = None;
        let data = b"{\"a\":1}\n[1]\n{\"b\":2}".to_vec();
        let chunk = Chunk {
            config,
            ends: vec![8, 12, 19],
            data,
            first_arrival: Utc::now(),
        };
        let docs = split_documents(&chunk, "c", true);
        assert_eq!(&docs[0].source[..], b"{\"a\":1}");
        assert_eq!(docs[0].id.as_deref(), Some("c-0"));
        assert!(matches!(docs[1].failure, Some(DocFailure::Permanent(..))));
        assert_eq!(&docs[1].source[..], b"[1]\n");
        assert_eq!(&docs[2].source[..], b"{\"b\":2}");
        assert!(split_documents(&chunk, "c", false)
            .iter()
            .all(|d| d.id.is_none()));
    }
}
