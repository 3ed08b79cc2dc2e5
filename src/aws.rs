//! AWS clients from `agent.json`: credentials, region, endpoints and timeouts.
//!
//! Credentials follow the Kinesis Agent's order where it matters to users: static
//! `awsAccessKeyId`/`awsSecretAccessKey` when both are set, else the SDK's default
//! chain (environment, profile, SSO, web identity, container, IMDSv2 instance role); an
//! `assumeRoleARN` wraps whichever was chosen in STS AssumeRole with the agent's session
//! name.
//!
//! The region deliberately differs from the agent: it never silently becomes us-east-1
//! for Firehose. It is, in order: the firetail region key for that service, the SDK
//! region chain (`AWS_REGION`, profile, IMDS), the region named in the configured
//! endpoint's host name, and only then, for an endpoint that names none (a local
//! stand-in), `us-east-1`, which such endpoints ignore.
//!
//! The SDK's own retries are off: the sink retries per record, and an SDK retry would
//! re-send a whole batch, including records that were already accepted.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;

/// The Kinesis Agent's AssumeRole session name, kept so CloudTrail filters still match.
const ASSUME_ROLE_SESSION_NAME: &str = "AWSKinesisAgent";

/// What the AWS clients need from the configuration, independent of its file format.
#[derive(Clone, Debug, Default)]
pub struct AwsSettings {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub assume_role_arn: Option<String>,
    pub assume_role_external_id: Option<String>,
    pub sts_endpoint: Option<String>,
    pub connect_timeout: Option<Duration>,
    pub read_timeout: Option<Duration>,
    /// A region for every service, when set (firetail extension `firetail.region`).
    pub region: Option<String>,
}

/// One service's endpoint and region keys.
#[derive(Clone, Debug, Default)]
pub struct ServiceEndpoint {
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

/// Errors building AWS clients; each says which key to set.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("no AWS region for {service}: set AWS_REGION, a profile region, or the `{key}` key in agent.json (firetail does not default to us-east-1)")]
    NoRegion {
        service: &'static str,
        key: &'static str,
    },
}

/// Loads the shared SDK configuration once (credentials resolution is lazy).
pub async fn load_base(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts(settings));
    if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
        let creds = Credentials::new(id, secret, None, None, "agent.json");
        loader = loader.credentials_provider(creds);
    }
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let base = loader.load().await;
    match &settings.assume_role_arn {
        Some(arn) => with_assumed_role(base, arn, settings).await,
        None => base,
    }
}

fn timeouts(settings: &AwsSettings) -> TimeoutConfig {
    let mut t = TimeoutConfig::builder();
    if let Some(c) = settings.connect_timeout {
        t = t.connect_timeout(c);
    }
    if let Some(r) = settings.read_timeout {
        t = t.read_timeout(r).operation_attempt_timeout(r);
    }
    t.build()
}

async fn with_assumed_role(base: SdkConfig, arn: &str, settings: &AwsSettings) -> SdkConfig {
    let mut sts_conf = base.clone();
    if let Some(endpoint) = &settings.sts_endpoint {
        sts_conf = sts_conf.into_builder().endpoint_url(endpoint).build();
    }
    let mut builder = aws_config::sts::AssumeRoleProvider::builder(arn)
        .session_name(ASSUME_ROLE_SESSION_NAME)
        .session_length(Duration::from_secs(3600))
        .configure(&sts_conf);
    if let Some(ext) = &settings.assume_role_external_id {
        builder = builder.external_id(ext);
    }
    let provider = builder.build().await;
    base.into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build()
}

/// The region for one service, by the order in the module docs.
pub fn resolve_region(
    base: &SdkConfig,
    svc: &ServiceEndpoint,
    service: &'static str,
    key: &'static str,
) -> Result<Region, AwsError> {
    if let Some(r) = &svc.region {
        return Ok(Region::new(r.clone()));
    }
    if let Some(r) = base.region() {
        return Ok(r.clone());
    }
    if let Some(endpoint) = &svc.endpoint {
        return Ok(region_from_endpoint(endpoint)
            .map(Region::new)
            .unwrap_or_else(|| Region::from_static("us-east-1")));
    }
    Err(AwsError::NoRegion { service, key })
}

/// `https://firehose.eu-west-1.amazonaws.com` names eu-west-1; so do FIPS and VPC
/// endpoint forms, whose second label is the region.
pub fn region_from_endpoint(endpoint: &str) -> Option<String> {
    let host = endpoint
        .split("://")
        .nth(1)
        .unwrap_or(endpoint)
        .split(['/', ':'])
        .next()?;
    if !host.ends_with(".amazonaws.com") && !host.ends_with(".amazonaws.com.cn") {
        return None;
    }
    host.split('.')
        .find(|label| {
            let parts: Vec<&str> = label.split('-').collect();
            parts.len() >= 3
                && parts
                    .last()
                    .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
}

/// A Firehose client for one endpoint/region pair.
pub fn firehose_client(
    base: &SdkConfig,
    svc: &ServiceEndpoint,
) -> Result<aws_sdk_firehose::Client, AwsError> {
    let region = resolve_region(base, svc, "Firehose", "firetail.firehose.region")?;
    let mut conf = aws_sdk_firehose::config::Builder::from(base).region(region);
    if let Some(e) = &svc.endpoint {
        conf = conf.endpoint_url(e);
    }
    Ok(aws_sdk_firehose::Client::from_conf(conf.build()))
}

/// A Kinesis Data Streams client for one endpoint/region pair.
pub fn kinesis_client(
    base: &SdkConfig,
    svc: &ServiceEndpoint,
) -> Result<aws_sdk_kinesis::Client, AwsError> {
    let region = resolve_region(base, svc, "Kinesis", "kinesis.region")?;
    let mut conf = aws_sdk_kinesis::config::Builder::from(base).region(region);
    if let Some(e) = &svc.endpoint {
        conf = conf.endpoint_url(e);
    }
    Ok(aws_sdk_kinesis::Client::from_conf(conf.build()))
}

#[cfg(test)]
mod tests {
    use super::region_from_endpoint;

    #[test]
    fn regions_come_from_aws_host_names_only() {
        assert_eq!(
            region_from_endpoint("https://firehose.eu-west-1.amazonaws.com").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region_from_endpoint("https://firehose-fips.us-gov-west-1.amazonaws.com/").as_deref(),
            Some("us-gov-west-1")
        );
        assert_eq!(region_from_endpoint("http://127.0.0.1:4573"), None);
        assert_eq!(region_from_endpoint("https://kinesis.example.com"), None);
    }
}
