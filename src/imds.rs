//! EC2 instance metadata over IMDSv2, for `ADDEC2METADATA` (spec §2.7) and the
//! `Instance` dimension of `cloudwatch.tagInstance`.
//!
//! The converter asks through the synchronous
//! [`InstanceMetadataSource::fetch`], on the process stage's tokio task. So
//! [`ImdsMetadataSource`] never does I/O there: `fetch` reads a cache that a background
//! task fills (first at [`ImdsMetadataSource::start`], which awaits one fetch so the first
//! record already has metadata, then every [`ImdsOptions::refresh`], and every
//! [`ImdsOptions::retry`] while none could be had).
//!
//! What is fetched: the identity document (`privateIp`, `availabilityZone`, `instanceId`,
//! `instanceType`, `accountId`, `imageId` → `amiId`, `region`) from IMDS, and the
//! instance's tags with `ec2:DescribeTags` (filtered on `resource-id` = the instance id),
//! as the Kinesis Agent does: with the instance's own credentials (the AWS SDK's default
//! chain, not `agent.json`'s keys or role, as the agent's `AmazonEC2ClientBuilder
//! .defaultClient()`), in the instance's region (from the identity document). Tag keys
//! are lower-cased by the converter. When DescribeTags fails (no permission, no network),
//! `tags` is left out of the record and a WARN says why, exactly as in the agent. Both
//! are fetched again every `metadataTTL` (the smallest of the flows'), so DescribeTags is
//! called once per TTL, not per record.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_config::imds::client::error::ImdsError;
use firetail_process::{Ec2Metadata, InstanceMetadataSource};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// The instance identity document.
pub const IDENTITY_DOCUMENT_PATH: &str = "/latest/dynamic/instance-identity/document";
/// The instance id alone (for the CloudWatch `Instance` dimension).
pub const INSTANCE_ID_PATH: &str = "/latest/meta-data/instance-id";

/// How the metadata source talks to IMDS.
#[derive(Clone, Debug)]
pub struct ImdsOptions {
    /// `None`: the SDK's choice (`AWS_EC2_METADATA_SERVICE_ENDPOINT`, profile, else
    /// `http://169.254.169.254`).
    pub endpoint: Option<String>,
    /// Re-read this often once metadata was fetched (tags can change).
    pub refresh: Duration,
    /// Re-try this often while no metadata could be fetched.
    pub retry: Duration,
    /// Connect and read timeout of one IMDS request.
    pub request_timeout: Duration,
    /// Attempts per IMDS request.
    pub attempts: u32,
    /// Bound on the whole first fetch in [`ImdsMetadataSource::start`] (off EC2 it fails).
    pub startup_timeout: Duration,
    /// The AWS configuration (credentials, endpoint) DescribeTags is called with; `None`
    /// fetches no tags.
    pub ec2: Option<aws_config::SdkConfig>,
}

impl Default for ImdsOptions {
    fn default() -> Self {
        ImdsOptions {
            endpoint: None,
            refresh: Duration::from_secs(300),
            retry: Duration::from_secs(30),
            request_timeout: Duration::from_secs(1),
            attempts: 2,
            startup_timeout: Duration::from_secs(5),
            ec2: None,
        }
    }
}

/// Why metadata could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("invalid IMDS endpoint {endpoint:?}: {message}")]
    Endpoint { endpoint: String, message: String },
    #[error("IMDS GET {path}: {message}")]
    Request { path: String, message: String },
    #[error("IMDS {path} is not the identity document JSON: {source}")]
    Document {
        path: &'static str,
        source: serde_json::Error,
    },
    #[error("no answer from IMDS within {0:?}")]
    Timeout(Duration),
    #[error("IMDS is disabled by AWS_EC2_METADATA_DISABLED")]
    Disabled,
}

/// The identity document fields the agent copies.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityDocument {
    private_ip: Option<String>,
    availability_zone: Option<String>,
    instance_id: Option<String>,
    instance_type: Option<String>,
    account_id: Option<String>,
    image_id: Option<String>,
    region: Option<String>,
}

/// An IMDSv2 client with `options`' endpoint, timeouts and attempts. Without an explicit
/// endpoint, `AWS_EC2_METADATA_DISABLED=true` turns IMDS off, as it does in the SDK.
pub fn client(options: &ImdsOptions) -> Result<aws_config::imds::Client, MetadataError> {
    let disabled = std::env::var("AWS_EC2_METADATA_DISABLED")
        .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if disabled && options.endpoint.is_none() {
        return Err(MetadataError::Disabled);
    }
    let mut builder = aws_config::imds::Client::builder()
        .connect_timeout(options.request_timeout)
        .read_timeout(options.request_timeout)
        .max_attempts(options.attempts.max(1));
    if let Some(endpoint) = &options.endpoint {
        builder = builder
            .endpoint(endpoint)
            .map_err(|e| MetadataError::Endpoint {
                endpoint: endpoint.clone(),
                message: e.to_string(),
            })?;
    }
    Ok(builder.build())
}

async fn get(client: &aws_config::imds::Client, path: &str) -> Result<String, ImdsError> {
    client.get(path).await.map(|s| s.as_ref().to_string())
}

fn request_error(path: &str, e: &ImdsError) -> MetadataError {
    MetadataError::Request {
        path: path.to_string(),
        message: aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}

/// Fetches the identity document and tags once (tags only with an `ec2` configuration).
pub async fn fetch_metadata(
    client: &aws_config::imds::Client,
    ec2: Option<&aws_config::SdkConfig>,
) -> Result<Ec2Metadata, MetadataError> {
    let text = get(client, IDENTITY_DOCUMENT_PATH)
        .await
        .map_err(|e| request_error(IDENTITY_DOCUMENT_PATH, &e))?;
    let doc: IdentityDocument =
        serde_json::from_str(&text).map_err(|source| MetadataError::Document {
            path: IDENTITY_DOCUMENT_PATH,
            source,
        })?;
    let tags = match (ec2, &doc.instance_id) {
        (Some(conf), Some(id)) => match describe_tags(conf, doc.region.as_deref(), id).await {
            Ok(tags) => Some(tags),
            Err(e) => {
                tracing::warn!("ADDEC2METADATA: ec2:DescribeTags failed, records go without `tags` (as with the Kinesis Agent): {e}");
                None
            }
        },
        _ => None,
    };
    Ok(Ec2Metadata {
        private_ip: doc.private_ip,
        availability_zone: doc.availability_zone,
        instance_id: doc.instance_id,
        instance_type: doc.instance_type,
        account_id: doc.account_id,
        ami_id: doc.image_id,
        region: doc.region,
        tags,
    })
}

/// The instance's tags from `ec2:DescribeTags`, in the order EC2 returns them (one
/// call, as the agent makes; an instance has at most 50 tags).
pub async fn describe_tags(
    conf: &aws_config::SdkConfig,
    region: Option<&str>,
    instance_id: &str,
) -> Result<Vec<(String, String)>, MetadataError> {
    let mut builder = aws_sdk_ec2::config::Builder::from(conf);
    if let Some(r) = region {
        builder = builder.region(aws_config::Region::new(r.to_owned()));
    }
    let filter = aws_sdk_ec2::types::Filter::builder()
        .name("resource-id")
        .values(instance_id)
        .build();
    let answer = aws_sdk_ec2::Client::from_conf(builder.build())
        .describe_tags()
        .filters(filter)
        .send()
        .await
        .map_err(|e| MetadataError::Request {
            path: "ec2:DescribeTags".into(),
            message: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
        })?;
    Ok(answer
        .tags()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect())
}

#[derive(Debug, Default)]
struct Cache {
    metadata: Option<Ec2Metadata>,
    last_error: Option<String>,
}

/// The [`InstanceMetadataSource`] for the process chain: a cache kept fresh by a
/// background task (see the module docs).
#[derive(Debug)]
pub struct ImdsMetadataSource {
    cache: RwLock<Cache>,
}

impl ImdsMetadataSource {
    /// Fetches once (bounded by `startup_timeout`), then refreshes in the background
    /// until `shutdown`. Never fails: without metadata, records pass through unchanged
    /// (the converter logs it) and the background task keeps trying.
    pub async fn start(options: ImdsOptions, shutdown: CancellationToken) -> Arc<Self> {
        let source = Arc::new(ImdsMetadataSource {
            cache: RwLock::new(Cache::default()),
        });
        let client = match client(&options) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("ADDEC2METADATA: {e}");
                source.store(Err(e));
                return source;
            }
        };
        let first = tokio::time::timeout(
            options.startup_timeout,
            fetch_metadata(&client, options.ec2.as_ref()),
        )
        .await
        .unwrap_or(Err(MetadataError::Timeout(options.startup_timeout)));
        if let Err(e) = &first {
            tracing::warn!("ADDEC2METADATA: no instance metadata yet: {e}");
        }
        source.store(first);
        tokio::spawn(refresh(source.clone(), client, options, shutdown));
        source
    }

    /// A source that always answers `metadata` (tests, `firetail preview`).
    pub fn fixed(metadata: Ec2Metadata) -> Arc<Self> {
        Arc::new(ImdsMetadataSource {
            cache: RwLock::new(Cache {
                metadata: Some(metadata),
                last_error: None,
            }),
        })
    }

    fn store(&self, result: Result<Ec2Metadata, MetadataError>) {
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(m) => {
                cache.metadata = Some(m);
                cache.last_error = None;
            }
            // Keep the last good metadata: an IMDS hiccup should not strip records.
            Err(e) => cache.last_error = Some(e.to_string()),
        }
    }

    fn has_metadata(&self) -> bool {
        self.cache
            .read()
            .map(|c| c.metadata.is_some())
            .unwrap_or(false)
    }
}

impl InstanceMetadataSource for ImdsMetadataSource {
    fn fetch(&self) -> Result<Ec2Metadata, String> {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        match (&cache.metadata, &cache.last_error) {
            (Some(m), _) => Ok(m.clone()),
            (None, Some(e)) => Err(e.clone()),
            (None, None) => Err("instance metadata not fetched yet".into()),
        }
    }
}

async fn refresh(
    source: Arc<ImdsMetadataSource>,
    client: aws_config::imds::Client,
    options: ImdsOptions,
    shutdown: CancellationToken,
) {
    loop {
        let wait = if source.has_metadata() {
            options.refresh
        } else {
            options.retry
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let result = fetch_metadata(&client, options.ec2.as_ref()).await;
        if let Err(e) = &result {
            tracing::debug!("ADDEC2METADATA: refresh failed: {e}");
        }
        source.store(result);
    }
}

/// The metadata source the daemon's flows share, when some flow uses ADDEC2METADATA:
/// refreshed every [`metadata_ttl`], DescribeTags with the instance's credentials (the
/// SDK's default chain, as the agent's `defaultClient()` has them).
pub async fn start_for(
    settings: &firetail_config::Settings,
    shutdown: CancellationToken,
) -> Option<Arc<dyn InstanceMetadataSource>> {
    if !needs_ec2_metadata(settings) {
        return None;
    }
    let options = ImdsOptions {
        refresh: metadata_ttl(settings),
        ec2: Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await),
        ..ImdsOptions::default()
    };
    Some(ImdsMetadataSource::start(options, shutdown).await)
}

/// How often metadata and tags are fetched again: the smallest `metadataTTL` of the
/// flows' ADDEC2METADATA options (seconds, read as the converter reads it; default and
/// fallback 3600), at least one second.
pub fn metadata_ttl(settings: &firetail_config::Settings) -> Duration {
    let ttls = settings
        .flows
        .iter()
        .filter_map(|f| f.data_processing_options.as_ref()?.as_array().cloned())
        .flatten()
        .filter(|o| o.get("optionName").and_then(|n| n.as_str()) == Some("ADDEC2METADATA"))
        .map(|o| match o.get("metadataTTL") {
            Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(3600),
            Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(3600),
            _ => 3600,
        });
    let secs = ttls.min().unwrap_or(3600).max(1);
    Duration::from_secs(u64::try_from(secs).unwrap_or(3600))
}

/// Whether any flow's `dataProcessingOptions` uses `ADDEC2METADATA` (only then is IMDS
/// asked anything).
pub fn needs_ec2_metadata(settings: &firetail_config::Settings) -> bool {
    settings.flows.iter().any(|f| {
        f.data_processing_options
            .as_ref()
            .and_then(|o| o.as_array())
            .is_some_and(|options| {
                options
                    .iter()
                    .any(|o| o.get("optionName").and_then(|n| n.as_str()) == Some("ADDEC2METADATA"))
            })
    })
}

/// The CloudWatch `Instance` dimension: the instance id from IMDS, else the host name
/// (the agent's rule).
pub async fn instance_id_or_hostname() -> String {
    instance_id_or_hostname_with(&ImdsOptions::default()).await
}

/// [`instance_id_or_hostname`] against a given IMDS.
pub async fn instance_id_or_hostname_with(options: &ImdsOptions) -> String {
    let id = match client(options) {
        Ok(c) => tokio::time::timeout(options.startup_timeout, get(&c, INSTANCE_ID_PATH))
            .await
            .ok()
            .and_then(Result::ok),
        Err(_) => None,
    };
    match id.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
        Some(id) => id,
        None => {
            let host = hostname();
            tracing::info!(
                "cloudwatch.tagInstance: no EC2 instance id from IMDS; Instance = {host}"
            );
            host
        }
    }
}

/// The kernel's host name.
pub fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn needs_ec2_metadata_only_with_the_option() {
        let parse = |opts: &str| {
            let json = format!(
                r#"{{"firetail.region": "us-east-1", "flows": [{{"filePattern": "/tmp/x.log", "deliveryStream": "s"{opts}}}]}}"#
            );
            firetail_config::parse_str(&json, "agent.json")
                .unwrap()
                .settings
        };
        assert!(!needs_ec2_metadata(&parse("")));
        assert!(needs_ec2_metadata(&parse(
            r#", "dataProcessingOptions": [{"optionName": "LOGTOJSON", "logFormat": "COMMONAPACHELOG"}, {"optionName": "ADDEC2METADATA", "logFormat": "COMMONAPACHELOG"}]"#
        )));
    }

    #[test]
    fn tags_are_fetched_again_every_smallest_metadata_ttl() {
        let parse = |opts: &str| {
            let json = format!(
                r#"{{"firetail.region": "us-east-1", "flows": [{{"filePattern": "/tmp/x.log", "deliveryStream": "s"{opts}}}, {{"filePattern": "/tmp/y.log", "deliveryStream": "s", "dataProcessingOptions": [{{"optionName": "ADDEC2METADATA", "logFormat": "SYSLOG", "metadataTTL": "900"}}]}}]}}"#
            );
            firetail_config::parse_str(&json, "agent.json")
                .unwrap()
                .settings
        };
        assert_eq!(metadata_ttl(&parse("")), Duration::from_secs(900));
        assert_eq!(
            metadata_ttl(&parse(
                r#", "dataProcessingOptions": [{"optionName": "ADDEC2METADATA", "logFormat": "SYSLOG", "metadataTTL": 60}]"#
            )),
            Duration::from_secs(60)
        );
        assert_eq!(
            metadata_ttl(&parse(
                r#", "dataProcessingOptions": [{"optionName": "ADDEC2METADATA", "logFormat": "SYSLOG", "metadataTTL": 0}]"#
            )),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn the_cache_keeps_good_metadata_through_errors() {
        let src = ImdsMetadataSource::fixed(Ec2Metadata {
            instance_id: Some("i-1".into()),
            ..Ec2Metadata::default()
        });
        src.store(Err(MetadataError::Timeout(Duration::from_secs(1))));
        assert_eq!(src.fetch().unwrap().instance_id.as_deref(), Some("i-1"));
        let empty = ImdsMetadataSource {
            cache: RwLock::new(Cache::default()),
        };
        assert!(empty.fetch().is_err());
        empty.store(Err(MetadataError::Timeout(Duration::from_secs(1))));
        assert!(empty.fetch().unwrap_err().contains("no answer"));
    }

    #[test]
    fn hostname_is_never_empty() {
        assert!(!hostname().is_empty());
    }
}
