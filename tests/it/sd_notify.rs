//! `firetail run` under a stand-in for systemd: a datagram socket named by
//! `NOTIFY_SOCKET` receives `READY=1` once the flows run, a one-line `STATUS=` then and
//! every status period, `WATCHDOG=1` every half `WATCHDOG_USEC`, `RELOADING=1` then
//! `READY=1` around a SIGHUP reload, and `STOPPING=1` at SIGTERM; the daemon then exits
//! 0. In debug builds, the test-only fault that wedges the runtime stops the pings.

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
    cfg["log.statusReportingPeriodSeconds"] = json!(1);
    let config_path = tmp.path().join("agent.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    let stderr_path = tmp.path().join("daemon.stderr");
    let mut child = ChildGuard(spawn(&config_path, &socket_path, &stderr_path, &[]));
    let mut got = Messages {
        socket,
        seen: Vec::new(),
        stderr: stderr_path,
    };

    got.expect("READY=1").await;
    // The first STATUS= comes at ready; a later one, a status period on, has delivered
    // the 10 lines and measured a rate.
    let first = got.expect_matching(|m| m.starts_with("STATUS=")).await;
    assert!(
        first.starts_with("STATUS=1 flow (1 ready), ") && first.contains(" records/s, "),
        "{first}"
    );
    let delivered = got
        .expect_matching(|m| {
            m.starts_with("STATUS=1 flow (1 ready), ")
                && !m.contains(" - records/s")
                && m.ends_with(" 0 B behind, last error: none")
        })
        .await;
    assert!(!delivered.contains('\n'), "{delivered}");
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

fn spawn(config: &Path, socket: &Path, stderr: &Path, env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_firetail"))
        .envs(env.iter().copied())
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
        self.expect_matching(|m| m == want).await;
    }

    /// Reads datagrams until one satisfies `pred` and returns it; panics after
    /// [`MESSAGE_TIMEOUT`].
    async fn expect_matching(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + MESSAGE_TIMEOUT;
        let mut buf = [0u8; 4096];
        loop {
            let received = tokio::time::timeout_at(deadline, self.socket.recv(&mut buf)).await;
            let n = match received {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => panic!("reading the notify socket: {e}"),
                Err(_) => panic!(
                    "no expected message within {MESSAGE_TIMEOUT:?}; received {:?}\n{}",
                    self.seen,
                    self.stderr_text()
                ),
            };
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            self.seen.push(message.clone());
            if pred(&message) {
                return message;
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

/// The test-only fault (debug builds): SIGUSR2 blocks every runtime worker, so the
/// watchdog pings stop and the health endpoint stops answering, while the process
/// lives on. Under systemd, that is what `WatchdogSec=` turns into a restart
/// (`scripts/test-packages` checks that part in a booted container).
#[cfg(debug_assertions)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wedge_fault_stops_the_watchdog_pings_and_the_health_endpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let socket_path = tmp.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let logs = tmp.path().join("logs");
    LineWriter::new(&logs.join("access.log"), "w").write_lines(1);
    let mut cfg = agent_config(tmp.path());
    cfg["firehose.endpoint"] = json!("http://127.0.0.1:9"); // never reached in time
    cfg["firetail.metrics.listen"] = json!("127.0.0.1:0");
    cfg["flows"] = json!([firehose_flow(&logs.join("access.log*"), "e2e-wedge")]);
    let config_path = tmp.path().join("agent.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    let stderr_path = tmp.path().join("daemon.stderr");
    let fault = [("FIRETAIL_TEST_FAULT", "wedge-on-sigusr2")];
    let mut child = ChildGuard(spawn(&config_path, &socket_path, &stderr_path, &fault));
    let mut got = Messages {
        socket,
        seen: Vec::new(),
        stderr: stderr_path,
    };
    got.expect("READY=1").await;
    got.expect("WATCHDOG=1").await;
    let text = got.stderr_text();
    let addr: std::net::SocketAddr = text
        .split("metrics and health on http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no metrics address logged:\n{text}"));
    assert!(live(addr), "/health/live should answer before the fault");

    signal(child.0.id(), "-USR2");
    let deadline = Instant::now() + MESSAGE_TIMEOUT;
    while !got.stderr_text().contains("test fault: SIGUSR2 received") {
        assert!(Instant::now() < deadline, "{}", got.stderr_text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A ping already on its way may still arrive; after that, silence.
    tokio::time::sleep(Duration::from_millis(300)).await;
    got.drain();
    let mut buf = [0u8; 4096];
    let quiet = tokio::time::timeout(Duration::from_millis(1500), got.socket.recv(&mut buf)).await;
    assert!(
        quiet.is_err(),
        "a message after the wedge: {:?}",
        quiet.map(|r| r.map(|n| String::from_utf8_lossy(&buf[..n]).into_owned()))
    );
    assert!(
        !live(addr),
        "/health/live still answers with the runtime wedged"
    );
    assert!(
        matches!(child.0.try_wait(), Ok(None)),
        "the wedged daemon should stay alive until something kills it"
    );
}

#[cfg(debug_assertions)]
fn live(addr: std::net::SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = s.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}
