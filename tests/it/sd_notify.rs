//! `firetail run` under a stand-in for systemd: a datagram socket named by
//! `NOTIFY_SOCKET` receives `READY=1` once the flows run, `WATCHDOG=1` every half
//! `WATCHDOG_USEC`, `RELOADING=1` then `READY=1` around a SIGHUP reload, and
//! `STOPPING=1` at SIGTERM; the daemon then exits 0.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use firetail_local_firehose::Options;
use serde_json::json;
use tokio::net::UnixDatagram;

use crate::support::daemon::{agent_config, firehose_flow, LineWriter};

/// Half of it is the watchdog period: 200 ms, so a few pings arrive within a second.
const WATCHDOG_USEC: &str = "400000";
/// How long any one expected message may take to arrive.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_speaks_the_systemd_notify_protocol() {
    let tmp = tempfile::tempdir().unwrap();
    let server = firetail_local_firehose::start(Options {
        dir: tmp.path().join("s3"),
        auto_create: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let socket_path = tmp.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let logs = tmp.path().join("logs");
    LineWriter::new(&logs.join("access.log"), "n").write_lines(10);
    let mut cfg = agent_config(tmp.path());
    cfg["firehose.endpoint"] = json!(server.endpoint_url());
    cfg["flows"] = json!([firehose_flow(&logs.join("access.log*"), "e2e-notify")]);
    let config_path = tmp.path().join("agent.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    let stderr_path = tmp.path().join("daemon.stderr");
    let mut child = ChildGuard(spawn(&config_path, &socket_path, &stderr_path));
    let mut got = Messages {
        socket,
        seen: Vec::new(),
        stderr: stderr_path,
    };

    got.expect("READY=1").await;
    got.expect("WATCHDOG=1").await;
    got.expect("WATCHDOG=1").await;

    signal(child.0.id(), "-HUP");
    got.expect("RELOADING=1").await;
    got.expect("READY=1").await;

    signal(child.0.id(), "-TERM");
    got.expect("STOPPING=1").await;
    let status = wait_exit(&mut child.0, MESSAGE_TIMEOUT).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "exit {status:?}; messages {:?}\n{}",
        got.seen,
        got.stderr_text()
    );

    got.drain();
    // Apart from the watchdog pings (and any STATUS=), exactly this, in this order.
    let lifecycle: Vec<&str> = got
        .seen
        .iter()
        .map(String::as_str)
        .filter(|m| *m != "WATCHDOG=1" && !m.starts_with("STATUS="))
        .collect();
    assert_eq!(
        lifecycle,
        ["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"],
        "all messages: {:?}",
        got.seen
    );
}

fn spawn(config: &Path, socket: &Path, stderr: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_firetail"))
        .args(["--log-level", "info", "run", "-c"])
        .arg(config)
        .env_remove("RUST_LOG")
        .env_remove("FIRETAIL_LOG_LEVEL")
        .env_remove("AWS_PROFILE")
        .env_remove("WATCHDOG_PID")
        .env("NOTIFY_SOCKET", socket)
        .env("WATCHDOG_USEC", WATCHDOG_USEC)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .expect("spawn firetail")
}

/// Kills the child if the test fails before it exits.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn signal(pid: u32, which: &str) {
    let status = Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {which} {pid}: {status}");
}

async fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The receiving end of the notify socket, and every message it received so far.
struct Messages {
    socket: UnixDatagram,
    seen: Vec<String>,
    stderr: std::path::PathBuf,
}

impl Messages {
    /// Reads datagrams until one equals `want`; panics after [`MESSAGE_TIMEOUT`].
    async fn expect(&mut self, want: &str) {
        let deadline = tokio::time::Instant::now() + MESSAGE_TIMEOUT;
        let mut buf = [0u8; 4096];
        loop {
            let received = tokio::time::timeout_at(deadline, self.socket.recv(&mut buf)).await;
            let n = match received {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => panic!("reading the notify socket: {e}"),
                Err(_) => panic!(
                    "no {want} within {MESSAGE_TIMEOUT:?}; received {:?}\n{}",
                    self.seen,
                    self.stderr_text()
                ),
            };
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            self.seen.push(message.clone());
            if message == want {
                return;
            }
        }
    }

    /// Takes whatever is still queued, without waiting.
    fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.socket.try_recv(&mut buf) {
            self.seen
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.stderr).unwrap_or_default()).into_owned()
    }
}
