//! A moto server (the Python `moto[server]` package: a third-party implementation of
//! the Firehose, Kinesis, S3, CloudWatch and CloudWatch Logs APIs) for protocol tests.
//!
//! One server is started per test binary, on a free 127.0.0.1 port, the first time a
//! test asks for it. moto keeps all state in one process, so tests that use it take a
//! lock and reset it (`POST /moto-api/reset`) on the way in: they run one at a time
//! against a clean server while the rest of the suite runs in parallel.
//!
//! The server is found through `FIRETAIL_MOTO_SERVER` (set by `scripts/test`, which
//! creates the virtualenv), else at `~/.cache/firetail/venv/bin/moto_server`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_firehose::config::{BehaviorVersion, Region};
use tokio::sync::{Mutex, MutexGuard};

/// The running server. Never dropped (it lives in a static); see [`spawn`] for how the
/// process still goes away with the test binary.
struct MotoProcess {
    addr: SocketAddr,
    /// Kept so the wrapper's stdin stays open: closing it (at process exit) makes the
    /// wrapper kill moto.
    _child: Child,
}

static SERVER: OnceLock<Result<MotoProcess, String>> = OnceLock::new();
static LOCK: Mutex<()> = Mutex::const_new(());

/// Exclusive use of the reset moto server for the duration of one test.
pub struct Moto {
    pub endpoint: String,
    _guard: MutexGuard<'static, ()>,
}

/// Takes the moto lock, starting the server if needed, and resets its state.
pub async fn moto() -> Moto {
    let guard = LOCK.lock().await;
    let server = SERVER.get_or_init(spawn);
    let addr = match server {
        Ok(p) => p.addr,
        Err(e) => panic!("moto server unavailable: {e}\n(run the suite with ./scripts/test, which installs moto[server])"),
    };
    http_post(addr, "/moto-api/reset").expect("reset moto");
    Moto {
        endpoint: format!("http://{addr}"),
        _guard: guard,
    }
}

impl Moto {
    fn credentials() -> Credentials {
        Credentials::new("testing", "testing", None, None, "firetail-tests")
    }

    pub fn firehose(&self) -> aws_sdk_firehose::Client {
        let conf = aws_sdk_firehose::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Self::credentials())
            .build();
        aws_sdk_firehose::Client::from_conf(conf)
    }

    #[allow(dead_code)] // used by the Kinesis delivery tests
    pub fn kinesis(&self) -> aws_sdk_kinesis::Client {
        let conf = aws_sdk_kinesis::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Self::credentials())
            .build();
        aws_sdk_kinesis::Client::from_conf(conf)
    }

    #[allow(dead_code)] // used by the CloudWatch Logs delivery tests
    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        let conf = aws_sdk_cloudwatchlogs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Self::credentials())
            .build();
        aws_sdk_cloudwatchlogs::Client::from_conf(conf)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Self::credentials())
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// Creates `bucket` and a Direct PUT delivery stream writing to it.
    pub async fn create_s3_stream(&self, stream: &str, bucket: &str) {
        self.s3()
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("create bucket");
        let dest = aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
            .role_arn("arn:aws:iam::123456789012:role/firehose-delivery")
            .bucket_arn(format!("arn:aws:s3:::{bucket}"))
            .prefix("raw/")
            // moto echoes only what it was given, and the SDK needs this field to parse
            // DescribeDeliveryStream.
            .compression_format(aws_sdk_firehose::types::CompressionFormat::Uncompressed)
            .build()
            .expect("destination");
        self.firehose()
            .create_delivery_stream()
            .delivery_stream_name(stream)
            .delivery_stream_type(aws_sdk_firehose::types::DeliveryStreamType::DirectPut)
            .extended_s3_destination_configuration(dest)
            .send()
            .await
            .expect("create delivery stream");
    }

    /// Every object in `bucket`, in key order, as bytes.
    pub async fn objects(&self, bucket: &str) -> Vec<(String, Vec<u8>)> {
        let s3 = self.s3();
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = s3
                .list_objects_v2()
                .bucket(bucket)
                .set_continuation_token(token.clone())
                .send()
                .await
                .expect("list objects");
            for obj in page.contents() {
                let key = obj.key().unwrap_or_default().to_string();
                let body = s3
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .expect("get object")
                    .body
                    .collect()
                    .await
                    .expect("read object")
                    .into_bytes()
                    .to_vec();
                out.push((key, body));
            }
            match page.next_continuation_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        out.sort();
        out
    }
}

fn moto_server_path() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("FIRETAIL_MOTO_SERVER") {
        return Ok(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    let p = PathBuf::from(home).join(".cache/firetail/venv/bin/moto_server");
    if p.exists() {
        Ok(p)
    } else {
        Err(format!("{} not found", p.display()))
    }
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Starts moto under a tiny shell wrapper that kills it when its stdin closes: the
/// static holding the child is never dropped, but the test binary's exit closes the
/// pipe, so no moto outlives the tests.
fn spawn() -> Result<MotoProcess, String> {
    let bin = moto_server_path()?;
    let port = free_port()?;
    let script = format!(
        "'{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid",
        bin.display()
    );
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn moto: {e}"))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http_post(addr, "/moto-api/reset").is_ok() {
            return Ok(MotoProcess {
                addr,
                _child: child,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("moto did not answer on {addr} within 60 s"))
}

/// A minimal HTTP/1.1 POST, enough for moto's control API.
fn http_post(addr: SocketAddr, path: &str) -> std::io::Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut status = String::new();
    BufReader::new(&mut s).read_line(&mut status)?;
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest); // drain; the status line is all we need
    if status.contains(" 200") {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("moto answered {status:?}")))
    }
}
