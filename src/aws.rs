//! AWS clients from `agent.json`: credentials, region, endpoints and timeouts.
//!
//! Credentials follow the Kinesis Agent's order where it matters to users: static
//! `awsAccessKeyId`/`awsSecretAccessKey` when both are set, else the SDK's default
//! chain (environment, profile, SSO, web identity, container, IMDSv2 instance role); an
//! `assumeRoleARN` wraps whichever was chosen in STS AssumeRole with the agent's session
//! name.
//!
//! The region deliberately differs from the agent: it never silently becomes us-east-1
//! for Firehose. It is, in order: the region the configuration names for that service
//! (its region key, `firetail.region`, or the region in a standard AWS endpoint host name,
//! see `firetail_config::Settings::firehose_region`), the SDK region chain (`AWS_REGION`,
//! profile, IMDS), and only then, for an endpoint that names none (a local stand-in),
//! `us-east-1`, which such endpoints ignore.
//!
//! Endpoints may be written as the agent's Java SDK took them, a bare host name such as
//! `firehose.eu-west-1.amazonaws.com`; the Rust SDK needs a URL, so they get `https://`.
//!
//! The SDK's own retries are off: the sink retries per record, and an SDK retry would
//! re-send a whole batch, including records that were already accepted.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use firetail_config::Settings;

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

impl AwsSettings {
    /// The credential, role, timeout and region keys of an `agent.json`.
    pub fn from_settings(s: &Settings) -> AwsSettings {
        AwsSettings {
            access_key_id: s.aws_access_key_id.clone(),
            secret_access_key: s
                .aws_secret_access_key
                .as_ref()
                .map(|k| k.expose().to_string()),
            assume_role_arn: s.assume_role_arn.clone(),
            assume_role_external_id: s.assume_role_external_id.clone(),
            sts_endpoint: s.sts_endpoint.clone(),
            connect_timeout: Some(s.connection_timeout),
            read_timeout: Some(s.socket_timeout),
            region: s.region.clone(),
        }
    }
}

/// One service's endpoint and region, as the configuration gives them, and the names an
/// error about them uses.
#[derive(Clone, Debug, Default)]
pub struct ServiceEndpoint {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// The service's name in messages: `Firehose`.
    pub service: &'static str,
    /// The key that sets its region: `firetail.firehose.region`.
    pub region_key: &'static str,
}

impl ServiceEndpoint {
    pub fn firehose(s: &Settings) -> ServiceEndpoint {
        ServiceEndpoint {
            endpoint: s.firehose_endpoint.clone(),
            region: s.firehose_region(),
            service: "Firehose",
            region_key: "firetail.firehose.region",
        }
    }

    pub fn kinesis(s: &Settings) -> ServiceEndpoint {
        ServiceEndpoint {
            endpoint: s.kinesis_endpoint.clone(),
            region: s.kinesis_region(),
            service: "Kinesis",
            region_key: "kinesis.region",
        }
    }

    pub fn cloudwatch(s: &Settings) -> ServiceEndpoint {
        ServiceEndpoint {
            endpoint: s.cloudwatch_endpoint.clone(),
            region: s.cloudwatch_region(),
            service: "CloudWatch",
            region_key: "firetail.cloudwatch.region",
        }
    }

    pub fn logs(s: &Settings) -> ServiceEndpoint {
        ServiceEndpoint {
            endpoint: s.logs_endpoint.clone(),
            region: s.logs_region(),
            service: "CloudWatch Logs",
            region_key: "firetail.logs.region",
        }
    }

    /// The SDK configuration for this service: the shared base (credentials, timeouts,
    /// retries) with the service's region, by [`resolve_region`], and its endpoint. Every
    /// service client is `Client::new` of one of these.
    pub fn sdk_config(&self, base: &SdkConfig) -> Result<SdkConfig, AwsError> {
        let region = resolve_region(base, self)?;
        let mut conf = base.to_builder().region(region);
        if let Some(endpoint) = &self.endpoint {
            conf = conf.endpoint_url(endpoint_url(endpoint));
        }
        Ok(conf.build())
    }
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

/// `connectionTimeoutMillis` and `socketTimeoutMillis`. Zero means no timeout, as in the
/// agent's Java SDK; the Rust SDK would take a zero as "time out at once", so a zero
/// disables the timeout instead (including the SDK's own 3.1 s connect default).
fn timeouts(settings: &AwsSettings) -> TimeoutConfig {
    let mut t = TimeoutConfig::builder();
    match settings.connect_timeout {
        Some(c) if c.is_zero() => t = t.disable_connect_timeout(),
        Some(c) => t = t.connect_timeout(c),
        None => {}
    }
    match settings.read_timeout {
        Some(r) if r.is_zero() => {
            t = t.disable_read_timeout().disable_operation_attempt_timeout();
        }
        Some(r) => t = t.read_timeout(r).operation_attempt_timeout(r),
        None => {}
    }
    t.build()
}

/// The STS endpoint the agent used when `sts.endpoint` is unset: the global one, which
/// signs for us-east-1.
const STS_GLOBAL_ENDPOINT: &str = "https://sts.amazonaws.com";

/// Where AssumeRole goes, and the region it is signed for. The agent's Java SDK signs
/// for the region in `sts.endpoint`'s host name, and without `sts.endpoint` calls the
/// global endpoint (us-east-1) whatever the host's region; so a region is never missing.
/// firetail prefers, in order: the region `sts.endpoint` names; the region the
/// configuration or the SDK chain gives (its regional STS endpoint, which AWS
/// recommends); and only then the agent's global endpoint.
pub fn sts_target(
    sts_endpoint: Option<&str>,
    base_region: Option<&Region>,
) -> (Option<String>, Region) {
    let named = sts_endpoint.and_then(firetail_config::region_from_endpoint);
    match (sts_endpoint, named, base_region) {
        (Some(e), Some(r), _) => (Some(endpoint_url(e)), Region::new(r)),
        (Some(e), None, Some(r)) => (Some(endpoint_url(e)), r.clone()),
        (Some(e), None, None) => (Some(endpoint_url(e)), Region::from_static("us-east-1")),
        (None, _, Some(r)) => (None, r.clone()),
        (None, _, None) => (
            Some(STS_GLOBAL_ENDPOINT.to_owned()),
            Region::from_static("us-east-1"),
        ),
    }
}

async fn with_assumed_role(base: SdkConfig, arn: &str, settings: &AwsSettings) -> SdkConfig {
    let (endpoint, region) = sts_target(settings.sts_endpoint.as_deref(), base.region());
    let mut sts_conf = base.clone().into_builder().region(region);
    if let Some(endpoint) = endpoint {
        sts_conf = sts_conf.endpoint_url(endpoint);
    }
    let sts_conf = sts_conf.build();
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

/// The region for one service, by the order in the module docs. `svc.region` is the
/// configuration's answer, which already includes the region of an AWS endpoint's host.
pub fn resolve_region(base: &SdkConfig, svc: &ServiceEndpoint) -> Result<Region, AwsError> {
    if let Some(r) = &svc.region {
        return Ok(Region::new(r.clone()));
    }
    if let Some(r) = base.region() {
        return Ok(r.clone());
    }
    if svc.endpoint.is_some() {
        return Ok(Region::from_static("us-east-1"));
    }
    Err(AwsError::NoRegion {
        service: svc.service,
        key: svc.region_key,
    })
}

/// The URL the SDK needs for a configured endpoint: bare host names get `https://`, as the
/// agent's Java SDK gave them.
pub fn endpoint_url(endpoint: &str) -> String {
    if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("https://{endpoint}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(endpoint: Option<&str>, region: Option<&str>) -> ServiceEndpoint {
        ServiceEndpoint {
            endpoint: endpoint.map(str::to_owned),
            region: region.map(str::to_owned),
            service: "Firehose",
            region_key: "firetail.firehose.region",
        }
    }

    #[test]
    fn the_sts_region_is_never_missing() {
        let eu = Region::from_static("eu-west-1");
        let (e, r) = sts_target(Some("sts.eu-central-1.amazonaws.com"), None);
        assert_eq!(
            (e.as_deref(), r.as_ref()),
            (
                Some("https://sts.eu-central-1.amazonaws.com"),
                "eu-central-1"
            )
        );
        // The endpoint's own region wins over the chain's: a mismatch cannot be signed.
        let (_, r) = sts_target(Some("https://sts.eu-central-1.amazonaws.com"), Some(&eu));
        assert_eq!(r.as_ref(), "eu-central-1");
        let (e, r) = sts_target(Some("http://127.0.0.1:5000"), None);
        assert_eq!(
            (e.as_deref(), r.as_ref()),
            (Some("http://127.0.0.1:5000"), "us-east-1")
        );
        let (e, r) = sts_target(None, Some(&eu));
        assert_eq!((e, r.as_ref()), (None, "eu-west-1"));
        // Off EC2, no region anywhere: the agent's global endpoint.
        let (e, r) = sts_target(None, None);
        assert_eq!(
            (e.as_deref(), r.as_ref()),
            (Some("https://sts.amazonaws.com"), "us-east-1")
        );
    }

    #[test]
    fn zero_timeouts_mean_none() {
        let zero = AwsSettings {
            connect_timeout: Some(Duration::ZERO),
            read_timeout: Some(Duration::ZERO),
            ..AwsSettings::default()
        };
        let t = timeouts(&zero);
        assert_eq!(t.connect_timeout(), None);
        assert_eq!(t.read_timeout(), None);
        assert_eq!(t.operation_attempt_timeout(), None);
        // Disabled, not merely unset: the SDK's defaults must not fill them in.
        let merged = t
            .to_builder()
            .take_unset_from(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .read_timeout(Duration::from_secs(3)),
            )
            .build();
        assert_eq!(merged.connect_timeout(), None);
        assert_eq!(merged.read_timeout(), None);
        let set = timeouts(&AwsSettings {
            connect_timeout: Some(Duration::from_secs(2)),
            read_timeout: Some(Duration::from_secs(5)),
            ..AwsSettings::default()
        });
        assert_eq!(set.connect_timeout(), Some(Duration::from_secs(2)));
        assert_eq!(set.read_timeout(), Some(Duration::from_secs(5)));
    }

    #[test]
    fn bare_endpoint_hosts_become_https_urls() {
        assert_eq!(
            endpoint_url("firehose.eu-west-1.amazonaws.com"),
            "https://firehose.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            endpoint_url("http://127.0.0.1:4573"),
            "http://127.0.0.1:4573"
        );
    }

    #[test]
    fn region_never_silently_defaults_for_aws_endpoints() {
        let bare = SdkConfig::builder().build();
        let err = resolve_region(&bare, &svc(None, None));
        assert!(matches!(
            err,
            Err(AwsError::NoRegion {
                service: "Firehose",
                key: "firetail.firehose.region"
            })
        ));
        // A local stand-in ignores the signing region, so any will do.
        let local = resolve_region(&bare, &svc(Some("http://127.0.0.1:1"), None));
        assert_eq!(local.ok(), Some(Region::from_static("us-east-1")));
        // The configuration's region wins over the SDK chain.
        let chain = SdkConfig::builder()
            .region(Region::from_static("ap-south-1"))
            .build();
        let named = resolve_region(&chain, &svc(None, Some("eu-west-1")));
        assert_eq!(named.ok(), Some(Region::from_static("eu-west-1")));
        let from_chain = resolve_region(&chain, &svc(None, None));
        assert_eq!(from_chain.ok(), Some(Region::from_static("ap-south-1")));
    }
}
