//! `ADDEC2METADATA` with the IMDSv2 source (`firetail::imds`) through the real converter
//! chain, against an IMDS stub on 127.0.0.1 that insists on the IMDSv2 token dance, and
//! moto's EC2 for `ec2:DescribeTags`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use firetail::imds::{self, ImdsMetadataSource, ImdsOptions};
use firetail_process::{Chain, InstanceMetadataSource, Outcome};
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "stub-token-AQAEA";

const DOCUMENT: &str = r#"{
  "accountId" : "123456789012",
  "architecture" : "x86_64",
  "availabilityZone" : "eu-west-1b",
  "billingProducts" : null,
  "devpayProductCodes" : null,
  "marketplaceProductCodes" : null,
  "imageId" : "ami-0abcdef1234567890",
  "instanceId" : "i-0123456789abcdef0",
  "instanceType" : "m5.large",
  "kernelId" : null,
  "pendingTime" : "2026-11-20T10:00:00Z",
  "privateIp" : "10.1.2.3",
  "ramdiskId" : null,
  "region" : "eu-west-1",
  "version" : "2017-09-30"
}"#;

/// An IMDSv2 stand-in: PUT /latest/api/token hands out [`TOKEN`]; every GET without it
/// is a 401.
struct ImdsStub {
    endpoint: String,
    gets: Arc<AtomicUsize>,
    stop: CancellationToken,
}

impl Drop for ImdsStub {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn imds_stub(tags: Option<&'static [(&'static str, &'static str)]>) -> ImdsStub {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let gets = Arc::new(AtomicUsize::new(0));
    let (token, counter) = (stop.clone(), gets.clone());
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
                _ = token.cancelled() => return,
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let counter = counter.clone();
                    async move { Ok::<_, Infallible>(answer(&req, tags, &counter)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    ImdsStub {
        endpoint: format!("http://{addr}"),
        gets,
        stop,
    }
}

fn reply(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn answer<B>(
    req: &Request<B>,
    tags: Option<&[(&str, &str)]>,
    gets: &AtomicUsize,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if req.method() == Method::PUT && path == "/latest/api/token" {
        assert!(
            req.headers()
                .contains_key("x-aws-ec2-metadata-token-ttl-seconds"),
            "IMDSv2 token requests carry a TTL"
        );
        return Response::builder()
            .header("X-aws-ec2-metadata-token-ttl-seconds", "21600")
            .body(Full::new(Bytes::from(TOKEN)))
            .unwrap();
    }
    let token = req
        .headers()
        .get("x-aws-ec2-metadata-token")
        .and_then(|v| v.to_str().ok());
    if req.method() != Method::GET || token != Some(TOKEN) {
        return reply(StatusCode::UNAUTHORIZED, "");
    }
    gets.fetch_add(1, Ordering::SeqCst);
    match (path, tags) {
        ("/latest/dynamic/instance-identity/document", _) => reply(StatusCode::OK, DOCUMENT),
        ("/latest/meta-data/instance-id", _) => reply(StatusCode::OK, "i-0123456789abcdef0"),
        ("/latest/meta-data/tags/instance", Some(tags)) => {
            let keys: Vec<&str> = tags.iter().map(|(k, _)| *k).collect();
            reply(StatusCode::OK, &keys.join("\n"))
        }
        (p, Some(tags)) if p.starts_with("/latest/meta-data/tags/instance/") => {
            let key = &p["/latest/meta-data/tags/instance/".len()..];
            match tags.iter().find(|(k, _)| *k == key) {
                Some((_, v)) => reply(StatusCode::OK, v),
                None => reply(StatusCode::NOT_FOUND, ""),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, ""),
    }
}

fn options(endpoint: &str) -> ImdsOptions {
    ImdsOptions {
        endpoint: Some(endpoint.to_string()),
        startup_timeout: Duration::from_secs(10),
        ..ImdsOptions::default()
    }
}

/// LOGTOJSON then ADDEC2METADATA, as a user would configure it, at a fixed clock.
fn chain(source: Arc<dyn InstanceMetadataSource>) -> Chain {
    let options = serde_json::json!([
        {"optionName": "LOGTOJSON", "logFormat": "COMMONAPACHELOG"},
        {"optionName": "ADDEC2METADATA", "logFormat": "COMMONAPACHELOG"}
    ]);
    Chain::from_options(&options)
        .unwrap()
        .with_metadata_source(source)
        // 2026-11-20T10:22:33Z
        .with_clock(Arc::new(|| 1_795_170_153_000))
}

const LINE: &[u8] =
    b"10.0.0.7 - frank [20/Nov/2026:10:22:33 +0000] \"GET /index.html HTTP/1.1\" 200 2326\n";

/// The chain's output for [`LINE`], as (JSON object, its keys in order).
fn process(chain: &Chain) -> (serde_json::Map<String, Value>, Vec<String>) {
    let mut out = Vec::new();
    assert_eq!(chain.process(LINE, &mut out), Outcome::Converted);
    assert_eq!(out.last(), Some(&b'\n'));
    let record: serde_json::Map<String, Value> = serde_json::from_slice(&out).unwrap();
    let keys = record.keys().cloned().collect();
    (record, keys)
}

/// The AWS configuration DescribeTags gets in these tests: moto's endpoint, its test
/// credentials (the daemon uses the SDK's default chain, the instance's credentials).
fn moto_ec2(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("testing", "testing", None, None, "tests"),
            ),
        )
        .build()
}

/// Tags the stub's instance in moto's eu-west-1 (the identity document's region: the
/// source must call DescribeTags there, not in the configuration's region).
async fn tag_instance(conf: &aws_config::SdkConfig, tags: &[(&str, &str)]) {
    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(conf)
            .region(aws_config::Region::new("eu-west-1"))
            .build(),
    );
    let mut call = ec2.create_tags().resources("i-0123456789abcdef0");
    for (k, v) in tags {
        call = call.tags(aws_sdk_ec2::types::Tag::builder().key(*k).value(*v).build());
    }
    call.send().await.expect("CreateTags in moto");
}

#[tokio::test]
async fn records_get_the_identity_document_from_imdsv2_and_tags_from_describe_tags() {
    let moto = crate::support::moto::moto().await;
    let ec2 = moto_ec2(&moto.endpoint);
    tag_instance(&ec2, &[("Name", "web-1"), ("Team", "Edge")]).await;
    let stub = imds_stub(None).await;
    let stop = CancellationToken::new();
    let opts = ImdsOptions {
        ec2: Some(ec2),
        ..options(&stub.endpoint)
    };
    let source = ImdsMetadataSource::start(opts, stop.clone()).await;
    let chain = chain(source);

    let (record, keys) = process(&chain);
    // The LOGTOJSON fields first, then the agent's keys in the agent's order.
    assert_eq!(record["host"], "10.0.0.7");
    assert_eq!(
        keys[keys.len() - 9..],
        [
            "privateIp",
            "availabilityZone",
            "instanceId",
            "instanceType",
            "accountId",
            "amiId",
            "region",
            "metadataTimestamp",
            "tags"
        ]
    );
    assert_eq!(record["privateIp"], "10.1.2.3");
    assert_eq!(record["availabilityZone"], "eu-west-1b");
    assert_eq!(record["instanceId"], "i-0123456789abcdef0");
    assert_eq!(record["instanceType"], "m5.large");
    assert_eq!(record["accountId"], "123456789012");
    assert_eq!(record["amiId"], "ami-0abcdef1234567890");
    assert_eq!(record["region"], "eu-west-1");
    assert_eq!(record["metadataTimestamp"], "2026-11-20T10:22:33+0000");
    // Tag keys lower-cased, values as they are.
    let tags: BTreeMap<&str, &str> = record["tags"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
        .collect();
    assert_eq!(tags, BTreeMap::from([("name", "web-1"), ("team", "Edge")]));

    // Within the TTL the converter asks the source again for nothing: a thousand
    // records cost no IMDS request.
    let before = stub.gets.load(Ordering::SeqCst);
    for _ in 0..1000 {
        process(&chain);
    }
    assert_eq!(stub.gets.load(Ordering::SeqCst), before);
    // Nor a DescribeTags call: a tag changed in EC2 shows only after metadataTTL.
    tag_instance(&moto_ec2(&moto.endpoint), &[("Team", "Core")]).await;
    let (record, _) = process(&chain);
    assert_eq!(record["tags"]["team"], "Edge");
    stop.cancel();
}

/// DescribeTags failing (here: nothing listens at the EC2 endpoint) leaves `tags` out
/// and keeps the identity document's fields, as the agent does.
#[tokio::test]
async fn when_describe_tags_fails_the_tags_key_is_left_out() {
    let stub = imds_stub(None).await;
    let stop = CancellationToken::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let opts = ImdsOptions {
        ec2: Some(moto_ec2(&dead)),
        ..options(&stub.endpoint)
    };
    let source = ImdsMetadataSource::start(opts, stop.clone()).await;
    let (record, keys) = process(&chain(source));
    assert_eq!(keys.last().map(String::as_str), Some("metadataTimestamp"));
    assert!(!record.contains_key("tags"));
    assert_eq!(record["instanceId"], "i-0123456789abcdef0");
    stop.cancel();
}

#[tokio::test]
async fn without_imds_records_pass_through_unchanged() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let stop = CancellationToken::new();
    let source = ImdsMetadataSource::start(options(&endpoint), stop.clone()).await;
    assert!(source.fetch().is_err());

    // ADDEC2METADATA returns LOGTOJSON's output as it is.
    let (record, keys) = process(&chain(source));
    assert!(!record.contains_key("instanceId"));
    assert_eq!(keys.last().map(String::as_str), Some("bytes"));
    stop.cancel();
}

#[tokio::test]
async fn the_source_refreshes_in_the_background() {
    let stub = imds_stub(None).await;
    let stop = CancellationToken::new();
    let opts = ImdsOptions {
        refresh: Duration::from_millis(50),
        ..options(&stub.endpoint)
    };
    let source = ImdsMetadataSource::start(opts, stop.clone()).await;
    assert!(source.fetch().is_ok());
    let first = stub.gets.load(Ordering::SeqCst);
    // Wait (bounded) for at least one refresh round; no timing is asserted.
    for _ in 0..200 {
        if stub.gets.load(Ordering::SeqCst) > first {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(stub.gets.load(Ordering::SeqCst) > first);
    stop.cancel();
}

#[tokio::test]
async fn the_cloudwatch_instance_dimension_is_the_instance_id() {
    let stub = imds_stub(None).await;
    assert_eq!(
        imds::instance_id_or_hostname_with(&options(&stub.endpoint)).await,
        "i-0123456789abcdef0"
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    assert_eq!(
        imds::instance_id_or_hostname_with(&options(&endpoint)).await,
        imds::hostname()
    );
}
