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
//! `instanceType`, `accountId`, `imageId` → `amiId`, `region`) and the instance's tags.
//! The Kinesis Agent reads tags with `ec2:DescribeTags`; firetail reads them from IMDS
//! (`/latest/meta-data/tags/instance`), which needs no IAM permission and no EC2 client
//! but answers only when "tags in instance metadata" is enabled on the instance. When it
//! is not, `tags` is left out of the record, exactly as the agent does when DescribeTags
//! fails.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_config::imds::client::error::ImdsError;
use firetail_process::{Ec2Metadata, InstanceMetadataSource};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// The instance identity document.
pub const IDENTITY_DOCUMENT_PATH: &str = "/latest/dynamic/instance-identity/document";
/// Tag keys, one per line; `<path>/<key>` is the value.
pub const TAGS_PATH: &str = "/latest/meta-data/tags/instance";
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

fn is_not_found(e: &ImdsError) -> bool {
    matches!(e, ImdsError::ErrorResponse(r) if r.response().status().as_u16() == 404)
}

/// Fetches the identity document and tags once.
pub async fn fetch_metadata(
    client: &aws_config::imds::Client,
) -> Result<Ec2Metadata, MetadataError> {
    let text = get(client, IDENTITY_DOCUMENT_PATH)
        .await
        .map_err(|e| request_error(IDENTITY_DOCUMENT_PATH, &e))?;
    let doc: IdentityDocument =
        serde_json::from_str(&text).map_err(|source| MetadataError::Document {
            path: IDENTITY_DOCUMENT_PATH,
            source,
        })?;
    let tags = match fetch_tags(client).await {
        Ok(tags) => Some(tags),
        Err(e) => {
            tracing::warn!("ADDEC2METADATA: instance tags unavailable, records go without `tags`: {e} (enable tags in instance metadata)");
            None
        }
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

/// Tag keys and values, in the order IMDS lists them.
async fn fetch_tags(
    client: &aws_config::imds::Client,
) -> Result<Vec<(String, String)>, MetadataError> {
    let keys = match get(client, TAGS_PATH).await {
        Ok(keys) => keys,
        Err(e) if is_not_found(&e) => {
            return Err(MetadataError::Request {
                path: TAGS_PATH.into(),
                message: "404: tags in instance metadata are not enabled".into(),
            })
        }
        Err(e) => return Err(request_error(TAGS_PATH, &e)),
    };
    let mut tags = Vec::new();
    for key in keys.lines().map(str::trim).filter(|k| !k.is_empty()) {
        let path = format!("{TAGS_PATH}/{key}");
        let value = get(client, &path)
            .await
            .map_err(|e| request_error(&path, &e))?;
        tags.push((key.to_string(), value));
    }
    Ok(tags)
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
        let first = tokio::time::timeout(options.startup_timeout, fetch_metadata(&client))
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
        let result = fetch_metadata(&client).await;
        if let Err(e) = &result {
            tracing::debug!("ADDEC2METADATA: refresh failed: {e}");
        }
        source.store(result);
    }
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
