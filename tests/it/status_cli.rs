//! `firetail status` against a real daemon: the table and `--json` agree with what was
//! written and delivered, `--watch` redraws, and the exit code is a Nagios check's
//! (0 OK, 1 WARNING on recent throttling, 2 CRITICAL on a missing stream, 3 UNKNOWN when
//! nobody answers or the endpoint is disabled).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use firetail_local_firehose::{Faults, Options};
use serde_json::{json, Value};

use crate::support::daemon::{eventually, Daemon, LocalRig, LINE_LEN};

fn status(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_firetail"))
        .arg("status")
        .args(args)
        .env_remove("FIRETAIL_CONFIG")
        .output()
        .expect("run firetail status")
}

fn status_at(addr: SocketAddr, extra: &[&str]) -> Output {
    let endpoint = addr.to_string();
    let mut args = vec!["--endpoint", endpoint.as_str()];
    args.extend_from_slice(extra);
    status(&args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json_status(addr: SocketAddr) -> (Option<i32>, Value) {
    let out = status_at(addr, &["--json"]);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json printed no JSON ({e}): {}", stdout(&out)));
    (out.status.code(), v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_every_flow_and_file_and_exits_ok_when_healthy() {
    const STREAM: &str = "e2e-status";
    let rig = LocalRig::auto_create().await;
    let mut writer = rig.writer("s");
    writer.write_lines(300);
    let mut cfg = rig.config(vec![rig.flow(STREAM)]);
    cfg["firetail.metrics.listen"] = json!("127.0.0.1:0");
    let daemon = Daemon::start(rig.dir(), &cfg);
    let addr = daemon.metrics_addr(Duration::from_secs(10)).await;
    let size = 300 * LINE_LEN as u64;

    // Caught up: the checkpoint reached the end of the file.
    let mut last = Value::Null;
    let caught_up = eventually(Duration::from_secs(30), || {
        let (_, v) = json_status(addr);
        let done = v["flows"][0]["files"][0]["acked_offset"] == json!(size);
        last = v;
        done
    })
    .await;
    assert!(
        caught_up,
        "never caught up: {last:#}\n{}",
        daemon.log_tail(20)
    );
    // A second after the first look, the rate has a baseline.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (code, v) = json_status(addr);
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["health"], "OK");
    assert_eq!(v["ready"], true);
    let flow = &v["flows"][0];
    assert_eq!(flow["records_sent"], 300);
    assert_eq!(flow["bytes_behind"], 0);
    assert!(flow["records_per_second"].is_number(), "{flow:#}");
    assert_eq!(flow["last_error"], Value::Null);
    let file = &flow["files"][0];
    assert_eq!(file["path"], json!(rig.logs.join("access.log")));
    assert_eq!(file["read_offset"], json!(size));
    assert!(file["checkpoint_age_seconds"].is_number(), "{file:#}");
    assert!(v["checkpoints"]["written_seconds_ago"].is_number(), "{v:#}");
    assert_eq!(v["pid"], json!(daemon.pid().unwrap()));

    let out = status_at(addr, &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("FIRETAIL OK - 1 flow (1 ready), ")
            && first.ends_with(" records/s, 0 B behind, last error: none"),
        "{text}"
    );
    let flow_id = flow["id"].as_str().unwrap();
    let file_row = format!(
        "  {}  {size}  {size}  {size}  0 B",
        rig.logs.join("access.log").display()
    );
    let squeezed: String = text.lines().map(|l| squeeze(l) + "\n").collect::<String>();
    assert!(squeezed.contains(&squeeze(&file_row)), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with(flow_id) && l.contains("ready")),
        "{text}"
    );
}

/// Runs of spaces collapsed to two, so a row compares without its column widths.
fn squeeze(line: &str) -> String {
    let mut out = String::new();
    for (i, word) in line.split(' ').filter(|w| !w.is_empty()).enumerate() {
        if i > 0 || line.starts_with("  ") {
            out.push_str("  ");
        }
        out.push_str(word);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_redraws_until_interrupted() {
    let rig = LocalRig::auto_create().await;
    rig.writer("w").write_lines(10);
    let mut cfg = rig.config(vec![rig.flow("e2e-status-watch")]);
    cfg["firetail.metrics.listen"] = json!("127.0.0.1:0");
    let daemon = Daemon::start(rig.dir(), &cfg);
    let addr = daemon.metrics_addr(Duration::from_secs(10)).await;

    let mut child = Command::new(env!("CARGO_BIN_EXE_firetail"))
        .args(["status", "--watch", "--interval", "0.2", "--endpoint"])
        .arg(addr.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let mut screens = 0;
    for line in lines {
        if line.unwrap().starts_with("FIRETAIL ") {
            screens += 1;
        }
        if screens == 3 || started.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(screens, 3, "--watch should keep printing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_stream_is_critical_and_throttling_is_a_warning() {
    let rig = LocalRig::start(Options {
        auto_create: false,
        ..Default::default()
    })
    .await;
    rig.writer("c").write_lines(20);
    let mut cfg = rig.config(vec![rig.flow("e2e-status-missing")]);
    cfg["firetail.metrics.listen"] = json!("127.0.0.1:0");
    let daemon = Daemon::start(rig.dir(), &cfg);
    let addr = daemon.metrics_addr(Duration::from_secs(10)).await;
    let mut out = status_at(addr, &[]);
    // Not ready at first (nothing delivered yet), then the destination's answer says why.
    let critical = eventually(Duration::from_secs(20), || {
        out = status_at(addr, &[]);
        out.status.code() == Some(2) && stdout(&out).contains("ResourceNotFoundException")
    })
    .await;
    let text = stdout(&out);
    assert!(critical, "{text}\n{}", daemon.log_tail(20));
    assert!(
        text.starts_with("FIRETAIL CRITICAL - 1 flow (0 ready)"),
        "{text}"
    );
    assert!(text.contains("ResourceNotFoundException"), "{text}");
    drop(daemon);

    let throttled = LocalRig::start(Options {
        auto_create: true,
        faults: Faults {
            throttle_rate: 0.5,
            ..Default::default()
        },
        seed: 3,
        ..Default::default()
    })
    .await;
    throttled.writer("t").write_lines(200);
    let mut flow = throttled.flow("e2e-status-throttled");
    flow["maxBufferSizeRecords"] = json!(10);
    let mut cfg = throttled.config(vec![flow]);
    cfg["firetail.metrics.listen"] = json!("127.0.0.1:0");
    let daemon = Daemon::start(throttled.dir(), &cfg);
    let addr = daemon.metrics_addr(Duration::from_secs(10)).await;
    let mut v = Value::Null;
    let warned = eventually(Duration::from_secs(30), || {
        let (code, now) = json_status(addr);
        v = now;
        code == Some(1) && v["flows"][0]["records_sent"] == 200
    })
    .await;
    assert!(warned, "{v:#}\n{}", daemon.log_tail(20));
    assert_eq!(v["health"], "WARNING");
    let error = v["flows"][0]["last_error"]["message"].as_str().unwrap();
    assert!(error.contains("ServiceUnavailableException"), "{v:#}");
}

#[test]
fn nobody_listening_or_a_disabled_endpoint_is_unknown() {
    // A port that was free a moment ago: nothing answers there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = status(&["--endpoint", &format!("127.0.0.1:{port}")]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with("FIRETAIL UNKNOWN - cannot ask the daemon at http://127.0.0.1:")
    );

    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("agent.json");
    std::fs::write(
        &config,
        r#"{"firetail.metrics.listen": "", "flows": [{"filePattern": "/tmp/x*", "deliveryStream": "s"}]}"#,
    )
    .unwrap();
    let out = status(&["-c", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("metrics endpoint is disabled"),
        "{}",
        stdout(&out)
    );
}
