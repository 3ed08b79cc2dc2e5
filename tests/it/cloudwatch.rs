//! CloudWatch metrics (`firetail::cloudwatch`) against moto: sink events in, the Kinesis
//! Agent's metric names, namespace, dimensions and statistic sets out. Plus the
//! checked-in Grafana dashboard and Prometheus alert rules name only metrics firetail
//! exports.
//!
//! The CloudWatch SDK speaks rpc-v2-cbor; moto 5.2 understands only the JSON and query
//! protocols for CloudWatch. [`CborShim`] sits between them: it turns each CBOR request
//! into the same operation in AWS JSON 1.0, forwards it to moto, and turns the JSON
//! answer back into CBOR. The shapes are the same in both protocols; only timestamps
//! differ (CBOR tag 1 vs. epoch-seconds numbers).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, DimensionFilter, Statistic};
use bytes::Bytes;
use firetail::cloudwatch::{self, FlushReport};
use firetail_sink::SinkEvents;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{Map, Number, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::support::moto::{moto, Moto};

// ----- the CBOR <-> JSON shim -----

/// An HTTP server on 127.0.0.1 translating rpc-v2-cbor CloudWatch calls to AWS JSON 1.0
/// for moto.
struct CborShim {
    endpoint: String,
    stop: CancellationToken,
}

impl Drop for CborShim {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn cbor_shim(moto: &Moto) -> CborShim {
    let upstream: SocketAddr = moto.endpoint.trim_start_matches("http://").parse().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
                _ = token.cancelled() => return,
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| translate(req, upstream));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    CborShim {
        endpoint: format!("http://{addr}"),
        stop,
    }
}

async fn translate(
    req: Request<hyper::body::Incoming>,
    upstream: SocketAddr,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let operation = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let gzip = req
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes() == b"gzip");
    let mut body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
    if gzip {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .unwrap();
        body = plain;
    }
    let json = if body.is_empty() {
        Value::Object(Map::new())
    } else {
        cbor::decode(&body)
    };
    let (status, answer) = forward(upstream, &operation, &auth, &json.to_string()).await;
    let answer: Value = if answer.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("moto answered {answer:?}: {e}"))
    };
    let response = Response::builder()
        .status(status)
        .header("content-type", "application/cbor")
        .header("smithy-protocol", "rpc-v2-cbor")
        .body(Full::new(Bytes::from(cbor::encode(&answer))))
        .unwrap();
    Ok(response)
}

/// One AWS JSON 1.0 call to moto over a fresh connection; (status, body).
async fn forward(upstream: SocketAddr, operation: &str, auth: &str, body: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(upstream).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {upstream}\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: GraniteServiceVersion20100801.{operation}\r\nAuthorization: {auth}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// Just enough CBOR (RFC 8949) for CloudWatch's rpc-v2-cbor shapes.
mod cbor {
    use super::*;

    pub fn decode(bytes: &[u8]) -> Value {
        let mut d = Decoder { bytes, at: 0 };
        let v = d.item().expect("a CBOR item, not a break");
        assert_eq!(d.at, bytes.len(), "trailing bytes after the CBOR item");
        v
    }

    struct Decoder<'a> {
        bytes: &'a [u8],
        at: usize,
    }

    impl Decoder<'_> {
        fn take(&mut self, n: usize) -> &[u8] {
            let s = &self.bytes[self.at..self.at + n];
            self.at += n;
            s
        }

        fn uint(&mut self, info: u8) -> Option<u64> {
            Some(match info {
                0..=23 => u64::from(info),
                24 => u64::from(self.take(1)[0]),
                25 => u64::from(u16::from_be_bytes(self.take(2).try_into().unwrap())),
                26 => u64::from(u32::from_be_bytes(self.take(4).try_into().unwrap())),
                27 => u64::from_be_bytes(self.take(8).try_into().unwrap()),
                31 => return None, // indefinite length
                other => panic!("reserved additional info {other}"),
            })
        }

        /// `None` at a break (end of an indefinite-length item).
        fn item(&mut self) -> Option<Value> {
            let first = self.take(1)[0];
            let (major, info) = (first >> 5, first & 0x1f);
            Some(match major {
                0 => Value::from(self.uint(info).unwrap()),
                1 => Value::from(-1 - self.uint(info).unwrap() as i64),
                2 | 3 => {
                    let bytes = match self.uint(info) {
                        Some(n) => self.take(n as usize).to_vec(),
                        None => {
                            let mut all = Vec::new();
                            while let Some(chunk) = self.item() {
                                all.extend(chunk.as_str().unwrap().as_bytes());
                            }
                            all
                        }
                    };
                    Value::String(String::from_utf8(bytes).unwrap())
                }
                4 => Value::Array(self.sequence(info, |d| d.item())),
                5 => {
                    let pairs = self.sequence(info, |d| {
                        let k = d.item()?;
                        let v = d.item().unwrap();
                        Some((k.as_str().unwrap().to_string(), v))
                    });
                    Value::Object(pairs.into_iter().collect())
                }
                6 => {
                    // Tag 1 (epoch time) becomes the JSON protocol's epoch seconds.
                    let _tag = self.uint(info);
                    self.item().unwrap()
                }
                _ => match info {
                    20 => Value::Bool(false),
                    21 => Value::Bool(true),
                    22 | 23 => Value::Null,
                    25 => float(half(u16::from_be_bytes(self.take(2).try_into().unwrap()))),
                    26 => float(f64::from(f32::from_be_bytes(
                        self.take(4).try_into().unwrap(),
                    ))),
                    27 => float(f64::from_be_bytes(self.take(8).try_into().unwrap())),
                    31 => return None,
                    other => panic!("unsupported simple value {other}"),
                },
            })
        }

        fn sequence<T>(&mut self, info: u8, mut one: impl FnMut(&mut Self) -> Option<T>) -> Vec<T> {
            match self.uint(info) {
                Some(n) => (0..n).map(|_| one(self).unwrap()).collect(),
                None => std::iter::from_fn(|| one(self)).collect(),
            }
        }
    }

    fn float(f: f64) -> Value {
        if f.fract() == 0.0 && f.abs() < 1e15 {
            Value::from(f as i64)
        } else {
            Value::Number(Number::from_f64(f).unwrap())
        }
    }

    fn half(h: u16) -> f64 {
        let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
        let exp = i32::from((h >> 10) & 0x1f);
        let mant = f64::from(h & 0x3ff);
        sign * match exp {
            0 => mant * 2f64.powi(-24),
            31 if mant == 0.0 => f64::INFINITY,
            31 => f64::NAN,
            e => (1.0 + mant / 1024.0) * 2f64.powi(e - 15),
        }
    }

    /// Every number is written as a double: the answers parsed here (statistics,
    /// timestamps) are all doubles. `Timestamp` members get tag 1.
    pub fn encode(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, v, false);
        out
    }

    fn head(out: &mut Vec<u8>, major: u8, n: u64) {
        let m = major << 5;
        match n {
            0..=23 => out.push(m | n as u8),
            24..=0xff => out.extend([m | 24, n as u8]),
            0x100..=0xffff => {
                out.push(m | 25);
                out.extend((n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(m | 26);
                out.extend((n as u32).to_be_bytes());
            }
            _ => {
                out.push(m | 27);
                out.extend(n.to_be_bytes());
            }
        }
    }

    fn write(out: &mut Vec<u8>, v: &Value, timestamp: bool) {
        match v {
            Value::Null => out.push(0xf6),
            Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
            Value::Number(n) => {
                if timestamp {
                    out.push(0xc1);
                }
                out.push(0xfb);
                out.extend(n.as_f64().unwrap().to_be_bytes());
            }
            Value::String(s) => {
                head(out, 3, s.len() as u64);
                out.extend(s.as_bytes());
            }
            Value::Array(items) => {
                head(out, 4, items.len() as u64);
                items.iter().for_each(|i| write(out, i, false));
            }
            Value::Object(map) => {
                head(out, 5, map.len() as u64);
                for (k, v) in map {
                    write(out, &Value::String(k.clone()), false);
                    write(out, v, k == "Timestamp");
                }
            }
        }
    }

    #[test]
    fn round_trips_the_shapes_used_here() {
        let v = serde_json::json!({"Label": "M", "Datapoints": [{"Timestamp": 1.5, "Sum": 2.25, "Neg": -3.5}], "Ok": true, "None": null});
        let back = decode(&encode(&v));
        assert_eq!(back["Datapoints"][0]["Sum"].as_f64(), Some(2.25));
        assert_eq!(back["Datapoints"][0]["Timestamp"].as_f64(), Some(1.5));
        assert_eq!(back["Label"], "M");
        assert_eq!(back["Ok"], true);
        assert_eq!(half(0x3c00), 1.0);
        assert_eq!(half(0xc000), -2.0);
        assert_eq!(decode(&[0x38, 0x63]), Value::from(-100)); // negative int
        assert_eq!(decode(&[0x9f, 0x01, 0xff]), serde_json::json!([1])); // indefinite array
    }
}

// ----- helpers -----

const NAMESPACE: &str = "FiretailTest";

fn agent_json(cloudwatch_endpoint: &str, extra: &str) -> String {
    format!(
        r#"{{"awsAccessKeyId": "testing", "awsSecretAccessKey": "testing",
            "firetail.region": "us-east-1",
            "cloudwatch.endpoint": "{cloudwatch_endpoint}",
            "cloudwatch.namespace": "{NAMESPACE}"{extra},
            "flows": [
              {{"filePattern": "/var/log/web/*.log", "deliveryStream": "web-logs"}},
              {{"filePattern": "/var/log/api/*.log", "deliveryStream": "web-logs"}},
              {{"filePattern": "/var/log/clicks/*.log", "kinesisStream": "clicks"}}
            ]}}"#
    )
}

fn settings(text: &str) -> firetail_config::Settings {
    firetail_config::parse_str(text, "agent.json")
        .expect("agent.json")
        .settings
}

async fn base() -> aws_config::SdkConfig {
    firetail::aws::load_base(&firetail::aws::AwsSettings {
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        region: Some("us-east-1".into()),
        connect_timeout: Some(Duration::from_secs(2)),
        read_timeout: Some(Duration::from_secs(5)),
        ..Default::default()
    })
    .await
}

fn client(endpoint: &str) -> aws_sdk_cloudwatch::Client {
    let conf = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(aws_sdk_cloudwatch::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_cloudwatch::config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .build();
    aws_sdk_cloudwatch::Client::from_conf(conf)
}

fn destination(value: &str) -> Dimension {
    Dimension::builder()
        .name("Destination")
        .value(value)
        .build()
}

/// (SampleCount, Sum, Minimum, Maximum) of one metric over the last minutes, summed
/// over datapoints (min/max over them).
async fn statistics(
    cw: &aws_sdk_cloudwatch::Client,
    metric: &str,
    dimensions: Vec<Dimension>,
) -> Option<(f64, f64, f64, f64)> {
    let now = SystemTime::now();
    let out = cw
        .get_metric_statistics()
        .namespace(NAMESPACE)
        .metric_name(metric)
        .set_dimensions(Some(dimensions))
        .start_time(DateTime::from(now - Duration::from_secs(600)))
        .end_time(DateTime::from(now + Duration::from_secs(600)))
        .period(60)
        .statistics(Statistic::SampleCount)
        .statistics(Statistic::Sum)
        .statistics(Statistic::Minimum)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .expect("GetMetricStatistics");
    let points = out.datapoints();
    if points.is_empty() {
        return None;
    }
    Some(points.iter().fold(
        (0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY),
        |(n, s, lo, hi), p| {
            (
                n + p.sample_count().unwrap(),
                s + p.sum().unwrap(),
                lo.min(p.minimum().unwrap()),
                hi.max(p.maximum().unwrap()),
            )
        },
    ))
}

/// What the sink reports for the requests of the main scenario.
fn simulate_requests(events: &dyn SinkEvents, web: &str, api: &str, clicks: &str) {
    let ms = Duration::from_millis(5);
    // web: 10 records, 8 accepted (800 bytes), 2 failed per record.
    events.batch_sent(web, 10, 1000, ms);
    events.records_acked(web, 8, 800);
    events.records_failed(web, "ServiceUnavailableException", 2);
    // web: the whole call failed.
    events.batch_sent(web, 5, 500, ms);
    events.call_failed(web, "ResourceNotFoundException", 5);
    // api: same delivery stream, so the same datums: 4 records, all accepted.
    events.batch_sent(api, 4, 400, ms);
    events.records_acked(api, 4, 400);
    // clicks (Kinesis): 3 records accepted.
    events.batch_sent(clicks, 3, 300, ms);
    events.records_acked(clicks, 3, 300);
}

// ----- tests -----

#[tokio::test]
async fn agent_metrics_reach_cloudwatch_with_the_agents_names_and_dimensions() {
    let moto = moto().await;
    let shim = cbor_shim(&moto).await;
    let settings = settings(&agent_json(&shim.endpoint, ""));
    let stop = CancellationToken::new();
    let events = cloudwatch::start(&settings, &base().await, stop.clone())
        .await
        .unwrap()
        .expect("cloudwatch.emitMetrics defaults to true");
    let ids: Vec<&str> = settings.flows.iter().map(|f| f.id.as_str()).collect();
    simulate_requests(events.as_ref(), ids[0], ids[1], ids[2]);

    let report = events.flush().await;
    // 5 metrics for the delivery stream, 5 for the Kinesis stream.
    assert_eq!(
        report,
        FlushReport {
            published: 10,
            failed: 0
        }
    );

    let cw = client(&shim.endpoint);
    let web = || vec![destination("DeliveryStream:web-logs")];
    assert_eq!(
        statistics(&cw, "RecordSendAttempts", web()).await,
        Some((3.0, 19.0, 4.0, 10.0))
    );
    // Only the two answered requests carry these.
    assert_eq!(
        statistics(&cw, "RecordsSent", web()).await,
        Some((2.0, 12.0, 4.0, 8.0))
    );
    assert_eq!(
        statistics(&cw, "RecordSendErrors", web()).await,
        Some((2.0, 2.0, 0.0, 2.0))
    );
    assert_eq!(
        statistics(&cw, "BytesSent", web()).await,
        Some((2.0, 1200.0, 400.0, 800.0))
    );
    assert_eq!(
        statistics(&cw, "ServiceErrors", web()).await,
        Some((3.0, 1.0, 0.0, 1.0))
    );
    let clicks = || vec![destination("KinesisStream:clicks")];
    assert_eq!(
        statistics(&cw, "RecordsSent", clicks()).await,
        Some((1.0, 3.0, 3.0, 3.0))
    );
    assert_eq!(
        statistics(&cw, "ServiceErrors", clicks()).await,
        Some((1.0, 0.0, 0.0, 0.0))
    );

    let listed = cw
        .list_metrics()
        .namespace(NAMESPACE)
        .send()
        .await
        .expect("ListMetrics");
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in listed.metrics() {
        let dims: Vec<String> = m
            .dimensions()
            .iter()
            .map(|d| format!("{}={}", d.name().unwrap(), d.value().unwrap()))
            .collect();
        assert_eq!(
            dims.len(),
            1,
            "only Destination without tagInstance: {dims:?}"
        );
        seen.entry(m.metric_name().unwrap().to_string())
            .or_default()
            .extend(dims);
    }
    for metric in cloudwatch::Metric::ALL {
        let mut dims = seen.remove(metric.name()).unwrap_or_default();
        dims.sort();
        assert_eq!(
            dims,
            [
                "Destination=DeliveryStream:web-logs",
                "Destination=KinesisStream:clicks"
            ],
            "{}",
            metric.name()
        );
    }
    assert!(seen.is_empty(), "unexpected metrics: {seen:?}");

    stop.cancel();
    events.finished().await;
}

#[tokio::test]
async fn shutdown_flushes_what_is_left_with_the_instance_dimension() {
    let moto = moto().await;
    let shim = cbor_shim(&moto).await;
    let settings = settings(&agent_json(
        &shim.endpoint,
        r#", "cloudwatch.tagInstance": true, "cloudwatch.metricsBufferTimeMillis": 3600000"#,
    ));
    let stop = CancellationToken::new();
    let events = cloudwatch::start(&settings, &base().await, stop.clone())
        .await
        .unwrap()
        .unwrap();
    let web = settings.flows[0].id.clone();
    events.batch_sent(&web, 7, 70, Duration::ZERO);
    events.records_acked(&web, 7, 70);
    // A request cut by shutdown before its answer: published as attempted.
    events.batch_sent(&web, 2, 20, Duration::ZERO);
    stop.cancel();
    events.finished().await;

    // Off EC2 (and in CI) IMDS does not answer: the agent falls back to the host name.
    let instance = firetail::imds::instance_id_or_hostname().await;
    let cw = client(&shim.endpoint);
    let dims = vec![
        destination("DeliveryStream:web-logs"),
        Dimension::builder()
            .name("Instance")
            .value(&instance)
            .build(),
    ];
    assert_eq!(
        statistics(&cw, "RecordSendAttempts", dims.clone()).await,
        Some((2.0, 9.0, 2.0, 7.0))
    );
    assert_eq!(
        statistics(&cw, "RecordsSent", dims).await,
        Some((2.0, 7.0, 0.0, 7.0))
    );
    let listed = cw
        .list_metrics()
        .namespace(NAMESPACE)
        .dimensions(
            DimensionFilter::builder()
                .name("Instance")
                .value(&instance)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(listed.metrics().len(), 5);
}

#[tokio::test]
async fn the_timer_publishes_without_being_asked() {
    let moto = moto().await;
    let shim = cbor_shim(&moto).await;
    let settings = settings(&agent_json(
        &shim.endpoint,
        r#", "cloudwatch.metricsBufferTimeMillis": 200"#,
    ));
    let stop = CancellationToken::new();
    let events = cloudwatch::start(&settings, &base().await, stop.clone())
        .await
        .unwrap()
        .unwrap();
    let clicks = settings.flows[2].id.clone();
    events.batch_sent(&clicks, 2, 20, Duration::ZERO);
    events.records_acked(&clicks, 2, 20);
    let cw = client(&shim.endpoint);
    // Bounded wait for the first timed flush; no timing is asserted.
    let mut found = None;
    for _ in 0..100 {
        found = statistics(
            &cw,
            "RecordsSent",
            vec![destination("KinesisStream:clicks")],
        )
        .await;
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found, Some((1.0, 2.0, 2.0, 2.0)));
    stop.cancel();
    events.finished().await;
}

#[tokio::test]
async fn emit_metrics_false_starts_nothing() {
    let text = agent_json("http://127.0.0.1:9", r#", "cloudwatch.emitMetrics": false"#);
    let events = cloudwatch::start(&settings(&text), &base().await, CancellationToken::new())
        .await
        .unwrap();
    assert!(events.is_none());
}

#[tokio::test]
async fn an_unreachable_cloudwatch_drops_the_datums_and_keeps_going() {
    // A port nothing listens on: connection refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let settings = settings(&agent_json(&endpoint, ""));
    let stop = CancellationToken::new();
    let events = cloudwatch::start(&settings, &base().await, stop.clone())
        .await
        .unwrap()
        .unwrap();
    let web = settings.flows[0].id.clone();
    events.batch_sent(&web, 1, 10, Duration::ZERO);
    events.records_acked(&web, 1, 10);
    assert_eq!(
        events.flush().await,
        FlushReport {
            published: 0,
            failed: 5
        }
    );
    // Dropped, not kept for a retry.
    assert_eq!(events.flush().await, FlushReport::default());
    stop.cancel();
    events.finished().await;
}

#[tokio::test]
async fn fan_out_feeds_every_sink_event_consumer() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    #[derive(Default)]
    struct Count(AtomicUsize);
    impl SinkEvents for Count {
        fn records_acked(&self, _: &str, records: usize, _: usize) {
            self.0.fetch_add(records, Ordering::SeqCst);
        }
    }
    let (a, b) = (Arc::new(Count::default()), Arc::new(Count::default()));
    let fan = cloudwatch::FanOut(vec![a.clone(), b.clone()]);
    fan.records_acked("f", 3, 30);
    assert_eq!(a.0.load(Ordering::SeqCst), 3);
    assert_eq!(b.0.load(Ordering::SeqCst), 3);
}

// ----- the Grafana dashboard and Prometheus alert rules -----

mod dashboards {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn repo() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// Every `firetail_*` metric name the code registers.
    fn exported_metrics() -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for file in ["src/telemetry/mod.rs", "src/daemon/counters.rs"] {
            let text = std::fs::read_to_string(repo().join(file)).unwrap();
            names.extend(metric_names(&text));
        }
        names
    }

    /// Every `firetail_[a-z0-9_]+` word in `text`.
    fn metric_names(text: &str) -> BTreeSet<String> {
        let is_name = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
        let mut names = BTreeSet::new();
        let mut rest = text;
        while let Some(at) = rest.find("firetail_") {
            let starts_word = !rest[..at].chars().next_back().is_some_and(is_name);
            let tail = &rest[at..];
            let end = tail.find(|c: char| !is_name(c)).unwrap_or(tail.len());
            if starts_word {
                names.insert(tail[..end].to_string());
            }
            rest = &tail[end..];
        }
        names
    }

    /// A histogram is queried through its series.
    fn base_name(name: &str) -> &str {
        ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name)
    }

    fn assert_only_exported(file: &str) {
        let exported = exported_metrics();
        assert!(exported.contains("firetail_bytes_behind"), "{exported:?}");
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        let used = metric_names(&text);
        assert!(!used.is_empty(), "{file} queries no firetail metric");
        let unknown: Vec<&String> = used
            .iter()
            .filter(|n| !exported.contains(base_name(n)) && !exported.contains(n.as_str()))
            .collect();
        assert!(
            unknown.is_empty(),
            "{file} uses metrics firetail does not export: {unknown:?}"
        );
    }

    fn python() -> PathBuf {
        if let Some(p) = std::env::var_os("FIRETAIL_PYTHON") {
            return PathBuf::from(p);
        }
        let home = std::env::var_os("HOME").expect("HOME is set");
        PathBuf::from(home).join(".cache/firetail/venv/bin/python")
    }

    #[test]
    fn the_dashboard_is_valid_json_with_flow_and_instance_variables() {
        let file = "config/grafana/firetail.json";
        assert_only_exported(file);
        let text = std::fs::read_to_string(repo().join(file)).unwrap();
        let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
        let vars: Vec<&str> = dash["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        for want in ["datasource", "instance", "flow"] {
            assert!(
                vars.contains(&want),
                "template variable {want} missing: {vars:?}"
            );
        }
        let panels = dash["panels"].as_array().unwrap();
        let mut ids = BTreeSet::new();
        for p in panels {
            assert!(ids.insert(p["id"].as_u64().unwrap()), "duplicate panel id");
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"].as_str().unwrap();
                assert!(
                    expr.contains("instance=~\"$instance\""),
                    "unfiltered query: {expr}"
                );
                // Every series but the process-wide uptime has a flow label.
                if !expr.contains("firetail_uptime_seconds") {
                    assert!(expr.contains("flow=~\"$flow\""), "unfiltered query: {expr}");
                }
            }
        }
    }

    #[test]
    fn the_alert_rules_parse_as_prometheus_rules_and_use_exported_metrics() {
        let file = "config/prometheus/firetail-alerts.yml";
        assert_only_exported(file);
        // PyYAML comes with moto in the test virtualenv; checks the rule file's shape.
        let script = r#"
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
names = set()
for g in doc["groups"]:
    assert g["name"] and g["rules"], g
    for r in g["rules"]:
        assert set(r) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, r
        assert r["alert"] not in names, r["alert"]
        names.add(r["alert"])
        assert isinstance(r["expr"], str) and r["expr"].strip(), r
        assert r["labels"]["severity"] in ("warning", "critical"), r
        assert r["annotations"]["summary"] and r["annotations"]["description"], r
        if "for" in r:
            assert r["for"][-1] in "smh" and r["for"][:-1].isdigit(), r["for"]
print(len(names))
"#;
        let out = Command::new(python())
            .arg("-c")
            .arg(script)
            .arg(repo().join(file))
            .output()
            .expect("run the test virtualenv's python (./scripts/test creates it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let count: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert!(count >= 5, "{count} rules");
    }
}
