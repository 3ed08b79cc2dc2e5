//! Prometheus for real, with Debian's `prometheus` package (`./scripts/test` unpacks it
//! into ~/.cache/firetail and points `FIRETAIL_PROMETHEUS_BIN` at its `usr/bin`):
//!
//! - `promtool check rules` accepts `config/prometheus/firetail-alerts.yml`, and
//!   `promtool test rules` passes `firetail-alerts.test.yml`, which fires every alert;
//! - a Prometheus server scrapes a running daemon (through throttling and rejected
//!   records, so every series exists), loads the alert rules and evaluates them without
//!   error, and every query of the Grafana dashboard returns data from it;
//! - every metric name the dashboard and the rules use is in the daemon's `/metrics`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use firetail_local_firehose::{Faults, Options};
use regex::Regex;
use serde_json::{json, Value};

use crate::support::daemon::{eventually, http_get, Daemon, LocalRig};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `prometheus` or `promtool` from the unpacked Debian package.
fn tool(name: &str) -> PathBuf {
    let dir = std::env::var_os("FIRETAIL_PROMETHEUS_BIN").map(PathBuf::from);
    let path = dir.map_or_else(|| PathBuf::from(name), |d| d.join(name));
    assert!(
        Command::new(&path).arg("--version").output().is_ok(),
        "{} not found: run ./scripts/test, which unpacks Debian's prometheus package and sets \
         FIRETAIL_PROMETHEUS_BIN",
        path.display()
    );
    path
}

fn promtool(args: &[&str]) {
    let out = Command::new(tool("promtool"))
        .args(args)
        .current_dir(repo().join("config/prometheus"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_checks_the_rules_and_their_tests_fire_every_alert() {
    promtool(&["check", "rules", "firetail-alerts.yml"]);
    promtool(&["test", "rules", "firetail-alerts.test.yml"]);
    // Each alert must be expected to fire somewhere in the tests, not only to stay quiet.
    let rules =
        std::fs::read_to_string(repo().join("config/prometheus/firetail-alerts.yml")).unwrap();
    let tests =
        std::fs::read_to_string(repo().join("config/prometheus/firetail-alerts.test.yml")).unwrap();
    let alerts: Vec<&str> = Regex::new(r"(?m)^\s*- alert: (\w+)")
        .unwrap()
        .captures_iter(&rules)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert!(alerts.len() >= 10, "{alerts:?}");
    let fired = Regex::new(r"alertname: (\w+)\n\s*exp_alerts:\n\s*- exp_labels:").unwrap();
    let tested: BTreeSet<&str> = fired
        .captures_iter(&tests)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    let untested: Vec<&&str> = alerts.iter().filter(|a| !tested.contains(**a)).collect();
    assert!(untested.is_empty(), "alerts no test fires: {untested:?}");
}

/// A Prometheus server, killed when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Scrapes `target` every second as job `firetail`, with the shipped alert rules.
    fn start(dir: &Path, target: SocketAddr) -> Prometheus {
        let rules = repo().join("config/prometheus/firetail-alerts.yml");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: firetail\n    static_configs:\n      - targets: [\"{target}\"]\n",
            rules.display()
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        // A port that was free a moment ago; Prometheus cannot be asked for port 0's pick.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("start prometheus");
        Prometheus { child, addr }
    }

    /// `GET /api/v1/<path>`; the `data` of a successful answer.
    fn api(&self, path: &str) -> Result<Value, String> {
        let (code, body) =
            http_get(self.addr, &format!("/api/v1/{path}")).map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if code != 200 || v["status"] != "success" {
            return Err(format!("{code}: {body}"));
        }
        Ok(v["data"].clone())
    }

    /// An instant query's result vector.
    fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let data = self.api(&format!("query?query={}", url_encode(promql)))?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every `firetail_*` metric name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    Regex::new(r"\bfiretail_[a-z0-9_]+")
        .unwrap()
        .find_iter(text)
        .map(|m| m.as_str().to_owned())
        .collect()
}

/// Every query of the Grafana dashboard, panels and template variables.
fn dashboard_queries() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("config/grafana/firetail.json")).unwrap();
    let dash: Value = serde_json::from_str(&text).unwrap();
    let mut exprs = Vec::new();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            exprs.push(t["expr"].as_str().unwrap().to_owned());
        }
    }
    assert!(exprs.len() >= 20, "{exprs:?}");
    exprs
}

/// A dashboard query as Grafana sends it, with every variable set to "all".
fn as_sent(expr: &str) -> String {
    expr.replace("$__rate_interval", "30s")
        .replace("$flow", ".*")
        .replace("$instance", ".*")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_daemon_and_every_dashboard_query_has_data() {
    // Throttling and rejected records, so the failure series exist too.
    let rig = LocalRig::start(Options {
        auto_create: true,
        faults: Faults {
            throttle_rate: 0.2,
            partial_failure_rate: 0.2,
            ..Default::default()
        },
        seed: 11,
        ..Default::default()
    })
    .await;
    let mut writer = rig.writer("p");
    let mut flow = rig.flow("e2e-prometheus");
    flow["maxBufferSizeRecords"] = json!(20);
    let mut cfg = rig.config(vec![flow]);
    cfg["firetail.metrics.listen"] = json!("127.0.0.1:0");
    let daemon = Daemon::start(rig.dir(), &cfg);
    let target = daemon.metrics_addr(Duration::from_secs(10)).await;
    let prom = Prometheus::start(rig.dir(), target);
    let log = || std::fs::read_to_string(rig.dir().join("prometheus.log")).unwrap_or_default();

    let mut targets = Value::Null;
    let up = eventually(Duration::from_secs(30), || {
        targets = prom.api("targets").unwrap_or(Value::Null);
        targets["activeTargets"][0]["health"] == "up"
    })
    .await;
    assert!(up, "the target never came up: {targets:#}\n{}", log());

    // Lines keep coming for a while, so rates have a few scrapes to work with.
    for _ in 0..8 {
        writer.write_lines(100);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut sent = Vec::new();
    let all_sent = eventually(Duration::from_secs(60), || {
        sent = prom
            .query("sum(firetail_records_sent_total{job=\"firetail\"})")
            .unwrap_or_default();
        sent.first().and_then(|s| s["value"][1].as_str()) == Some("800")
    })
    .await;
    assert!(
        all_sent,
        "Prometheus never saw 800 records sent: {sent:?}\n{}",
        daemon.log_tail(20)
    );

    let mut empty = Vec::new();
    for expr in dashboard_queries() {
        let q = as_sent(&expr);
        match prom.query(&q) {
            Ok(result) if result.is_empty() => empty.push(q),
            Ok(_) => {}
            Err(e) => panic!("dashboard query {q} fails: {e}"),
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries without data: {empty:#?}"
    );
    for variable in ["firetail_uptime_seconds", "firetail_records_read_total"] {
        let series = prom.api(&format!("series?match[]={variable}")).unwrap();
        assert!(
            series[0]["instance"].is_string(),
            "template variable source {variable}: {series}"
        );
    }

    // The shipped rules load and evaluate against real series without error.
    let rules = prom.api("rules").unwrap();
    let group = &rules["groups"][0];
    assert_eq!(group["name"], "firetail", "{rules:#}");
    for rule in group["rules"].as_array().unwrap() {
        assert_eq!(rule["health"], "ok", "{rule:#}");
    }

    // Every name the dashboard and the rules use, against what /metrics exports now.
    let (_, body) = http_get(target, "/metrics").unwrap();
    let exported = metric_names(&body);
    let dashboard = std::fs::read_to_string(repo().join("config/grafana/firetail.json")).unwrap();
    let alerts =
        std::fs::read_to_string(repo().join("config/prometheus/firetail-alerts.yml")).unwrap();
    for (file, text) in [("dashboard", dashboard), ("alert rules", alerts)] {
        let unknown: Vec<String> = metric_names(&text)
            .into_iter()
            .filter(|n| !exported.contains(n))
            .collect();
        assert!(
            unknown.is_empty(),
            "the {file} use names /metrics lacks: {unknown:?}"
        );
    }
}
