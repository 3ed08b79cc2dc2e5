//! The delivery streams: their configuration, their buffers and the control-plane operations
//! (Create / Describe / List / Delete).
//!
//! Invariants: a stream's buffer only ever holds records that were accepted (answered with a
//! RecordId or delivered before an injected reset), in acceptance order; a buffer is handed to
//! the writer as a whole [`Chunk`], never split, so each object is a run of consecutive records.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{stream_arn, validate_stream_name, ApiError};
use crate::batch::parse_json;
use crate::opensearch::{compression_of, IndexRotation, OpenSearchConfig};
use crate::options::AUTO_CREATE_BUCKET;

/// Firehose's default buffer size for S3 destinations (MiB).
const DEFAULT_SIZE_MIB: u64 = 5;
/// Firehose's default buffer interval for S3 destinations (seconds).
const DEFAULT_INTERVAL_S: u64 = 300;
/// Most bytes reserved up front for a new buffer (streams may ask for 128 MiB).
const MAX_PREALLOCATION: usize = 8 << 20;

/// Object compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Records concatenated as received.
    Uncompressed,
    /// The concatenation, gzipped; the object name ends in `.gz`.
    Gzip,
}

impl Compression {
    fn api_name(self) -> &'static str {
        match self {
            Compression::Uncompressed => "UNCOMPRESSED",
            Compression::Gzip => "GZIP",
        }
    }
}

/// A stream's S3 destination settings.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Delivery stream name.
    pub name: Arc<str>,
    /// Bucket name (from `arn:aws:s3:::bucket`).
    pub bucket: String,
    /// Key prefix, prepended verbatim to `YYYY/MM/DD/HH/`.
    pub prefix: String,
    /// Error output prefix (stored and described only).
    pub error_output_prefix: Option<String>,
    /// Flush when this many bytes are buffered.
    pub size_bytes: usize,
    /// Flush when the oldest buffered record is this old.
    pub interval: Duration,
    /// Object compression.
    pub compression: Compression,
    /// The IAM role given at creation (described only).
    pub role_arn: String,
    /// Whether it was created with an ExtendedS3DestinationConfiguration.
    pub extended: bool,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// The OpenSearch destination, when the stream has one (then bucket, prefix and
    /// compression are those of its S3 backup).
    pub opensearch: Option<Arc<OpenSearchConfig>>,
}

impl StreamConfig {
    /// The configuration `--auto-create` uses: bucket `local-firehose`, 1 MiB / 1 s.
    pub fn auto_created(name: &str) -> Self {
        StreamConfig {
            name: name.into(),
            bucket: AUTO_CREATE_BUCKET.to_string(),
            prefix: String::new(),
            error_output_prefix: None,
            size_bytes: 1 << 20,
            interval: Duration::from_secs(1),
            compression: Compression::Uncompressed,
            role_arn: format!(
                "arn:aws:iam::{}:role/local-firehose",
                crate::api::ACCOUNT_ID
            ),
            extended: true,
            created: Utc::now(),
            opensearch: None,
        }
    }
}

/// A buffer taken from a stream, ready to become one object.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub(crate) config: StreamConfig,
    pub(crate) data: Vec<u8>,
    /// Where each record ends in `data` (the OpenSearch destination indexes them one by one).
    pub(crate) ends: Vec<usize>,
    /// Arrival time of the chunk's first record: it names the object and its hour directory.
    pub(crate) first_arrival: DateTime<Utc>,
}

#[derive(Default)]
struct Buffer {
    data: Vec<u8>,
    ends: Vec<usize>,
    first_arrival: Option<(Instant, DateTime<Utc>)>,
}

/// One delivery stream.
pub(crate) struct Stream {
    pub(crate) config: StreamConfig,
    buffer: Mutex<Buffer>,
}

impl Stream {
    fn buffer(&self) -> MutexGuard<'_, Buffer> {
        self.buffer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Buffers records; returns the full buffer when it reached the size hint.
    pub(crate) fn append<'a>(&self, records: impl Iterator<Item = &'a [u8]>) -> Option<Chunk> {
        let mut buffer = self.buffer();
        if buffer.first_arrival.is_none() {
            buffer.first_arrival = Some((Instant::now(), Utc::now()));
            // One allocation per object instead of a doubling series of copies.
            let expected = self.config.size_bytes.min(MAX_PREALLOCATION);
            buffer.data.reserve(expected);
        }
        for record in records {
            buffer.data.extend_from_slice(record);
            let end = buffer.data.len();
            buffer.ends.push(end);
        }
        if buffer.data.len() >= self.config.size_bytes {
            self.take(&mut buffer)
        } else {
            None
        }
    }

    /// Takes the buffer if it is non-empty and (unless `force`) older than the interval hint.
    pub(crate) fn take_due(&self, now: Instant, force: bool) -> Option<Chunk> {
        let mut buffer = self.buffer();
        let (since, _) = buffer.first_arrival?;
        if force || now.saturating_duration_since(since) >= self.config.interval {
            self.take(&mut buffer)
        } else {
            None
        }
    }

    fn take(&self, buffer: &mut Buffer) -> Option<Chunk> {
        let (_, first_arrival) = buffer.first_arrival.take()?;
        let data = std::mem::take(&mut buffer.data);
        let ends = std::mem::take(&mut buffer.ends);
        if data.is_empty() {
            return None;
        }
        Some(Chunk {
            config: self.config.clone(),
            data,
            ends,
            first_arrival,
        })
    }
}

/// All delivery streams, by name.
#[derive(Default)]
pub(crate) struct Streams {
    by_name: RwLock<BTreeMap<String, Arc<Stream>>>,
    /// The node every OpenSearch domain ARN resolves to (`--opensearch-url`).
    opensearch_url: Option<String>,
}

#[derive(Deserialize)]
struct HintsIn {
    #[serde(rename = "SizeInMBs")]
    size_mib: Option<u64>,
    #[serde(rename = "IntervalInSeconds")]
    interval_s: Option<u64>,
}

#[derive(Deserialize)]
struct S3ConfigIn {
    #[serde(rename = "RoleARN")]
    role_arn: Option<String>,
    #[serde(rename = "BucketARN")]
    bucket_arn: Option<String>,
    #[serde(rename = "Prefix")]
    prefix: Option<String>,
    #[serde(rename = "ErrorOutputPrefix")]
    error_output_prefix: Option<String>,
    #[serde(rename = "BufferingHints")]
    hints: Option<HintsIn>,
    #[serde(rename = "CompressionFormat")]
    compression: Option<String>,
}

#[derive(Deserialize)]
struct RetryIn {
    #[serde(rename = "DurationInSeconds")]
    duration_s: Option<u64>,
}

#[derive(Deserialize)]
struct DocumentIdIn {
    #[serde(rename = "DefaultDocumentIdFormat")]
    format: Option<String>,
}

#[derive(Deserialize)]
struct OpenSearchIn {
    #[serde(rename = "RoleARN")]
    role_arn: Option<String>,
    #[serde(rename = "DomainARN")]
    domain_arn: Option<String>,
    #[serde(rename = "ClusterEndpoint")]
    cluster_endpoint: Option<String>,
    #[serde(rename = "IndexName")]
    index_name: Option<String>,
    #[serde(rename = "IndexRotationPeriod")]
    rotation: Option<String>,
    #[serde(rename = "BufferingHints")]
    hints: Option<HintsIn>,
    #[serde(rename = "RetryOptions")]
    retry: Option<RetryIn>,
    #[serde(rename = "S3BackupMode")]
    backup_mode: Option<String>,
    #[serde(rename = "S3Configuration")]
    s3: Option<S3ConfigIn>,
    #[serde(rename = "DocumentIdOptions")]
    document_ids: Option<DocumentIdIn>,
}

#[derive(Deserialize)]
struct CreateIn {
    #[serde(rename = "DeliveryStreamName")]
    name: Option<String>,
    #[serde(rename = "DeliveryStreamType")]
    stream_type: Option<String>,
    #[serde(rename = "ExtendedS3DestinationConfiguration")]
    extended: Option<S3ConfigIn>,
    #[serde(rename = "S3DestinationConfiguration")]
    plain: Option<S3ConfigIn>,
    #[serde(rename = "AmazonopensearchserviceDestinationConfiguration")]
    opensearch: Option<OpenSearchIn>,
}

#[derive(Deserialize)]
struct NameIn {
    #[serde(rename = "DeliveryStreamName")]
    name: Option<String>,
}

#[derive(Deserialize)]
struct ListIn {
    #[serde(rename = "Limit")]
    limit: Option<u64>,
    #[serde(rename = "DeliveryStreamType")]
    stream_type: Option<String>,
    #[serde(rename = "ExclusiveStartDeliveryStreamName")]
    start_after: Option<String>,
}

fn required_name(name: Option<String>) -> Result<String, ApiError> {
    let name = name.ok_or_else(|| {
        ApiError::constraint("null", "deliveryStreamName", "Member must not be null")
    })?;
    validate_stream_name(&name)?;
    Ok(name)
}

impl Streams {
    /// Streams whose OpenSearch destinations index into the node at `opensearch_url`.
    pub(crate) fn new(opensearch_url: Option<String>) -> Self {
        Streams {
            by_name: RwLock::default(),
            opensearch_url,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Stream>>> {
        self.by_name
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Stream>>> {
        self.by_name
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<Stream>> {
        self.read().get(name).cloned()
    }

    /// Finds a stream, creating it with the auto-create settings if allowed.
    pub(crate) fn get_or_auto_create(
        &self,
        name: &str,
        auto_create: bool,
    ) -> Result<Arc<Stream>, ApiError> {
        if let Some(stream) = self.get(name) {
            return Ok(stream);
        }
        if !auto_create {
            return Err(ApiError::stream_not_found(name));
        }
        let mut by_name = self.write();
        let stream = by_name.entry(name.to_string()).or_insert_with(|| {
            tracing::info!(stream = name, "auto-creating delivery stream");
            Arc::new(Stream {
                config: StreamConfig::auto_created(name),
                buffer: Mutex::default(),
            })
        });
        Ok(Arc::clone(stream))
    }

    pub(crate) fn all(&self) -> Vec<Arc<Stream>> {
        self.read().values().cloned().collect()
    }

    /// `CreateDeliveryStream`.
    pub(crate) fn create(&self, body: &[u8]) -> Result<Value, ApiError> {
        let input: CreateIn = parse_json(body)?;
        let name = required_name(input.name)?;
        match input.stream_type.as_deref() {
            None | Some("DirectPut") => {}
            Some(other) => {
                return Err(ApiError::invalid_argument(format!(
                    "DeliveryStreamType {other} is not supported by local-firehose (only DirectPut)"
                )))
            }
        }
        let config = match (input.extended, input.plain, input.opensearch) {
            (Some(c), None, None) => parse_s3_config(&name, c, true)?,
            (None, Some(c), None) => parse_s3_config(&name, c, false)?,
            (None, None, Some(c)) => {
                parse_opensearch_config(&name, c, self.opensearch_url.as_deref())?
            }
            _ => {
                return Err(ApiError::invalid_argument(
                    "Exactly one destination configuration must be specified (local-firehose \
                     supports ExtendedS3DestinationConfiguration, S3DestinationConfiguration and \
                     AmazonopensearchserviceDestinationConfiguration)",
                ))
            }
        };
        let mut by_name = self.write();
        if by_name.contains_key(&name) {
            return Err(ApiError::stream_in_use(&name));
        }
        by_name.insert(
            name.clone(),
            Arc::new(Stream {
                config,
                buffer: Mutex::default(),
            }),
        );
        Ok(json!({ "DeliveryStreamARN": stream_arn(&name) }))
    }

    /// `DescribeDeliveryStream`.
    pub(crate) fn describe(&self, body: &[u8]) -> Result<Value, ApiError> {
        let input: NameIn = parse_json(body)?;
        let name = required_name(input.name)?;
        let stream = self
            .get(&name)
            .ok_or_else(|| ApiError::stream_not_found(&name))?;
        Ok(json!({ "DeliveryStreamDescription": describe_stream(&stream.config) }))
    }

    /// `ListDeliveryStreams`.
    pub(crate) fn list(&self, body: &[u8]) -> Result<Value, ApiError> {
        let input: ListIn = parse_json(body)?;
        let limit = input.limit.unwrap_or(10);
        if !(1..=10_000).contains(&limit) {
            return Err(ApiError::constraint(
                &format!("'{limit}'"),
                "limit",
                "Member must have value between 1 and 10000",
            ));
        }
        let only_other_types = matches!(input.stream_type.as_deref(), Some(t) if t != "DirectPut");
        let by_name = self.read();
        let after = input.start_after.unwrap_or_default();
        let mut names = by_name
            .keys()
            .filter(|n| !only_other_types && n.as_str() > after.as_str());
        let page: Vec<&String> = names.by_ref().take(limit as usize).collect();
        let has_more = names.next().is_some();
        Ok(json!({ "DeliveryStreamNames": page, "HasMoreDeliveryStreams": has_more }))
    }

    /// `DeleteDeliveryStream`; returns the removed stream so its buffer can still be written.
    pub(crate) fn delete(&self, body: &[u8]) -> Result<Arc<Stream>, ApiError> {
        let input: NameIn = parse_json(body)?;
        let name = required_name(input.name)?;
        self.write()
            .remove(&name)
            .ok_or_else(|| ApiError::stream_not_found(&name))
    }
}

fn parse_s3_config(name: &str, c: S3ConfigIn, extended: bool) -> Result<StreamConfig, ApiError> {
    let member = if extended {
        "extendedS3DestinationConfiguration"
    } else {
        "s3DestinationConfiguration"
    };
    let bucket_arn = c.bucket_arn.ok_or_else(|| {
        ApiError::constraint(
            "null",
            &format!("{member}.bucketARN"),
            "Member must not be null",
        )
    })?;
    let bucket = bucket_from_arn(&bucket_arn).ok_or_else(|| {
        ApiError::constraint(
            &format!("'{bucket_arn}'"),
            &format!("{member}.bucketARN"),
            "Member must satisfy regular expression pattern: arn:.*:s3:::[\\w\\.\\-]{1,255}",
        )
    })?;
    let prefix = c.prefix.unwrap_or_default();
    check_prefix(&prefix)?;
    let (size_mib, interval_s) = match c.hints {
        Some(h) => (
            h.size_mib.unwrap_or(DEFAULT_SIZE_MIB),
            h.interval_s.unwrap_or(DEFAULT_INTERVAL_S),
        ),
        None => (DEFAULT_SIZE_MIB, DEFAULT_INTERVAL_S),
    };
    if !(1..=128).contains(&size_mib) {
        return Err(ApiError::constraint(
            &format!("'{size_mib}'"),
            &format!("{member}.bufferingHints.sizeInMBs"),
            "Member must have value between 1 and 128",
        ));
    }
    if interval_s > 900 {
        return Err(ApiError::constraint(
            &format!("'{interval_s}'"),
            &format!("{member}.bufferingHints.intervalInSeconds"),
            "Member must have value less than or equal to 900",
        ));
    }
    let compression = match c.compression.as_deref() {
        None | Some("UNCOMPRESSED") => Compression::Uncompressed,
        Some("GZIP") => Compression::Gzip,
        Some(other) => {
            return Err(ApiError::invalid_argument(format!(
            "CompressionFormat {other} is not supported by local-firehose (UNCOMPRESSED or GZIP)"
        )))
        }
    };
    Ok(StreamConfig {
        name: name.into(),
        bucket: bucket.to_string(),
        prefix,
        error_output_prefix: c.error_output_prefix,
        size_bytes: (size_mib as usize) << 20,
        interval: Duration::from_secs(interval_s),
        compression,
        role_arn: c.role_arn.unwrap_or_default(),
        extended,
        created: Utc::now(),
        opensearch: None,
    })
}

/// `AmazonopensearchserviceDestinationConfiguration`: the domain is the node at
/// `ClusterEndpoint` when given, else at `--opensearch-url`; failed documents go to the
/// S3 configuration's bucket and prefix.
fn parse_opensearch_config(
    name: &str,
    c: OpenSearchIn,
    opensearch_url: Option<&str>,
) -> Result<StreamConfig, ApiError> {
    const MEMBER: &str = "amazonopensearchserviceDestinationConfiguration";
    let null = |field: &str| {
        ApiError::constraint(
            "null",
            &format!("{MEMBER}.{field}"),
            "Member must not be null",
        )
    };
    let index_name = c.index_name.ok_or_else(|| null("indexName"))?;
    let s3 = c.s3.ok_or_else(|| null("s3Configuration"))?;
    let endpoint = match (c.cluster_endpoint, c.domain_arn, opensearch_url) {
        (Some(endpoint), _, _) => endpoint,
        (None, Some(_), Some(url)) => url.to_string(),
        (None, Some(arn), None) => {
            return Err(ApiError::invalid_argument(format!(
            "DomainARN {arn}: start local-firehose with --opensearch-url to say which node it is"
        )))
        }
        (None, None, _) => return Err(null("domainARN")),
    };
    let (rotation, backup_all, document_ids) =
        parse_opensearch_modes(c.rotation, c.backup_mode.as_deref(), c.document_ids)?;
    if compression_of(s3.compression.as_deref()).is_none() {
        return Err(ApiError::invalid_argument(
            "the S3 backup is UNCOMPRESSED or GZIP here",
        ));
    }
    let backup = parse_s3_config(name, s3, false)?;
    // Firehose's defaults for this destination: 5 MiB / 300 s buffers, 300 s of retries.
    let hints = c.hints.unwrap_or(HintsIn {
        size_mib: None,
        interval_s: None,
    });
    let size_mib = hints.size_mib.unwrap_or(DEFAULT_SIZE_MIB);
    if !(1..=100).contains(&size_mib) {
        return Err(ApiError::constraint(
            &format!("'{size_mib}'"),
            &format!("{MEMBER}.bufferingHints.sizeInMBs"),
            "Member must have value between 1 and 100",
        ));
    }
    let interval_s = hints.interval_s.unwrap_or(DEFAULT_INTERVAL_S).min(900);
    let retry_s = c.retry.and_then(|r| r.duration_s).unwrap_or(300).min(7200);
    let mut config = backup.clone();
    config.size_bytes = (size_mib as usize) << 20;
    config.interval = Duration::from_secs(interval_s);
    config.role_arn = c.role_arn.unwrap_or_default();
    config.opensearch = Some(Arc::new(OpenSearchConfig {
        endpoint,
        index_name,
        rotation,
        document_ids,
        retry_for: Duration::from_secs(retry_s),
        backup_all,
        backup,
    }));
    Ok(config)
}

/// `IndexRotationPeriod` (default `OneDay`), `S3BackupMode` (default failed documents only)
/// and `DocumentIdOptions` (default Firehose's ids).
fn parse_opensearch_modes(
    rotation: Option<String>,
    backup_mode: Option<&str>,
    document_ids: Option<DocumentIdIn>,
) -> Result<(IndexRotation, bool, bool), ApiError> {
    let rotation_name = rotation.unwrap_or_else(|| "OneDay".into());
    let rotation = IndexRotation::parse(&rotation_name).ok_or_else(|| {
        ApiError::invalid_argument(format!("IndexRotationPeriod {rotation_name} is not valid"))
    })?;
    let backup_all = match backup_mode {
        None | Some("FailedDocumentsOnly") => false,
        Some("AllDocuments") => true,
        Some(other) => {
            return Err(ApiError::invalid_argument(format!(
                "S3BackupMode {other} is not valid"
            )))
        }
    };
    let document_ids = match document_ids.and_then(|d| d.format).as_deref() {
        None | Some("FIREHOSE_DEFAULT") => true,
        Some("NO_DOCUMENT_ID") => false,
        Some(other) => {
            return Err(ApiError::invalid_argument(format!(
                "DefaultDocumentIdFormat {other} is not valid"
            )))
        }
    };
    Ok((rotation, backup_all, document_ids))
}

/// The bucket of `arn:<partition>:s3:::<bucket>`, if the ARN has that shape.
fn bucket_from_arn(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let (_partition, bucket) = rest.split_once(":s3:::")?;
    let valid = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    (!bucket.is_empty() && bucket.len() <= 255 && bucket.bytes().all(valid) && bucket != "..")
        .then_some(bucket)
}

/// Refuses prefixes that would escape the output directory.
fn check_prefix(prefix: &str) -> Result<(), ApiError> {
    if prefix.starts_with('/') || prefix.split('/').any(|part| part == "..") {
        return Err(ApiError::invalid_argument(format!(
            "Prefix {prefix:?} must not start with '/' or contain '..' segments"
        )));
    }
    Ok(())
}

fn describe_stream(c: &StreamConfig) -> Value {
    let size_mib = c.size_bytes >> 20;
    let mut s3 = json!({
        "RoleARN": c.role_arn,
        "BucketARN": format!("arn:aws:s3:::{}", c.bucket),
        "BufferingHints": { "SizeInMBs": size_mib, "IntervalInSeconds": c.interval.as_secs() },
        "CompressionFormat": c.compression.api_name(),
        "EncryptionConfiguration": { "NoEncryptionConfig": "NoEncryption" },
        "CloudWatchLoggingOptions": { "Enabled": false },
    });
    if !c.prefix.is_empty() {
        s3["Prefix"] = json!(c.prefix);
    }
    if let Some(p) = &c.error_output_prefix {
        s3["ErrorOutputPrefix"] = json!(p);
    }
    let mut destination = json!({
        "DestinationId": "destinationId-000000000001",
        "S3DestinationDescription": s3.clone(),
    });
    if let Some(os) = &c.opensearch {
        destination["AmazonopensearchserviceDestinationDescription"] = json!({
            "RoleARN": c.role_arn,
            "ClusterEndpoint": os.endpoint,
            "IndexName": os.index_name,
            "IndexRotationPeriod": os.rotation.api_name(),
            "BufferingHints": { "SizeInMBs": size_mib, "IntervalInSeconds": c.interval.as_secs() },
            "RetryOptions": { "DurationInSeconds": os.retry_for.as_secs() },
            "S3BackupMode": if os.backup_all { "AllDocuments" } else { "FailedDocumentsOnly" },
            "S3DestinationDescription": s3,
        });
        return json!({
            "DeliveryStreamName": &*c.name,
            "DeliveryStreamARN": stream_arn(&c.name),
            "DeliveryStreamStatus": "ACTIVE",
            "DeliveryStreamType": "DirectPut",
            "VersionId": "1",
            "Destinations": [destination],
            "HasMoreDestinations": false,
        });
    }
    if c.extended {
        let mut extended = s3;
        extended["S3BackupMode"] = json!("Disabled");
        destination["ExtendedS3DestinationDescription"] = extended;
    }
    let created = c.created.timestamp_millis() as f64 / 1000.0;
    json!({
        "DeliveryStreamName": &*c.name,
        "DeliveryStreamARN": stream_arn(&c.name),
        "DeliveryStreamStatus": "ACTIVE",
        "DeliveryStreamType": "DirectPut",
        "DeliveryStreamEncryptionConfiguration": { "Status": "DISABLED" },
        "VersionId": "1",
        "CreateTimestamp": created,
        "LastUpdateTimestamp": created,
        "Destinations": [destination],
        "HasMoreDestinations": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(streams: &Streams, body: Value) -> Result<Value, ApiError> {
        streams.create(body.to_string().as_bytes())
    }

    #[test]
    fn bucket_arns_parse() {
        assert_eq!(bucket_from_arn("arn:aws:s3:::my-bucket"), Some("my-bucket"));
        assert_eq!(bucket_from_arn("arn:aws-cn:s3:::b.c"), Some("b.c"));
        assert_eq!(bucket_from_arn("arn:aws:s3:::"), None);
        assert_eq!(bucket_from_arn("arn:aws:s3:::a/b"), None);
        assert_eq!(bucket_from_arn("my-bucket"), None);
    }

    #[test]
    fn create_validates_and_refuses_duplicates() {
        let streams = Streams::default();
        let ok = json!({"DeliveryStreamName": "s", "ExtendedS3DestinationConfiguration": {
            "BucketARN": "arn:aws:s3:::b", "Prefix": "logs/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}, "CompressionFormat": "GZIP"}});
        create(&streams, ok.clone()).unwrap();
        assert_eq!(
            create(&streams, ok).unwrap_err().code,
            "ResourceInUseException"
        );
        let c = &streams.get("s").unwrap().config;
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("b", "logs/"));
        assert_eq!(c.size_bytes, 1 << 20);
        assert_eq!(c.compression, Compression::Gzip);

        let no_dest = json!({"DeliveryStreamName": "t"});
        assert_eq!(
            create(&streams, no_dest).unwrap_err().code,
            "InvalidArgumentException"
        );
        let escape = json!({"DeliveryStreamName": "t", "S3DestinationConfiguration": {
            "BucketARN": "arn:aws:s3:::b", "Prefix": "../x/"}});
        assert_eq!(
            create(&streams, escape).unwrap_err().code,
            "InvalidArgumentException"
        );
        let bad_size = json!({"DeliveryStreamName": "t", "S3DestinationConfiguration": {
            "BucketARN": "arn:aws:s3:::b", "BufferingHints": {"SizeInMBs": 0}}});
        assert_eq!(
            create(&streams, bad_size).unwrap_err().code,
            "ValidationException"
        );
        let wrong_type = json!({"DeliveryStreamName": "t", "S3DestinationConfiguration": {
            "BucketARN": "arn:aws:s3:::b", "BufferingHints": {"SizeInMBs": "5"}}});
        assert_eq!(
            create(&streams, wrong_type).unwrap_err().code,
            "SerializationException"
        );
    }

    #[test]
    fn list_pages_in_name_order() {
        let streams = Streams::default();
        for name in ["c", "a", "b"] {
            create(
                &streams,
                json!({"DeliveryStreamName": name,
                "S3DestinationConfiguration": {"BucketARN": "arn:aws:s3:::b"}}),
            )
            .unwrap();
        }
        let page = streams.list(br#"{"Limit":2}"#).unwrap();
        assert_eq!(page["DeliveryStreamNames"], json!(["a", "b"]));
        assert_eq!(page["HasMoreDeliveryStreams"], true);
        let rest = streams
            .list(br#"{"ExclusiveStartDeliveryStreamName":"b"}"#)
            .unwrap();
        assert_eq!(rest["DeliveryStreamNames"], json!(["c"]));
        assert_eq!(rest["HasMoreDeliveryStreams"], false);
    }

    #[test]
    fn buffer_flushes_on_size_and_age() {
        let mut config = StreamConfig::auto_created("s");
        config.size_bytes = 10;
        config.interval = Duration::from_secs(60);
        let stream = Stream {
            config,
            buffer: Mutex::default(),
        };
        assert!(stream.append([&b"12345"[..]].into_iter()).is_none());
        let chunk = stream.append([&b"67890"[..]].into_iter()).unwrap();
        assert_eq!(chunk.data, b"1234567890");
        assert_eq!(chunk.ends, vec![5, 10]);
        stream.append([&b"x"[..]].into_iter());
        assert!(stream.take_due(Instant::now(), false).is_none());
        let later = Instant::now() + Duration::from_secs(61);
        assert_eq!(stream.take_due(later, false).unwrap().data, b"x");
        assert!(stream.take_due(later, true).is_none());
    }
}
