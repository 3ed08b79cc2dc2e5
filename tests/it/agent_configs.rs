//! The Kinesis Agent's own example configurations and five configurations from reports
//! in its issue tracker (`tests/agent-configs`, sources in its README): each passes
//! `firetail check-config` as published, then runs. For the run, only what points
//! outside the test is rewritten (endpoints to a local Firehose and moto's Kinesis,
//! credentials, the checkpoint file, file paths into a temporary directory, CloudWatch
//! off); every line written must be read and settled (sent, or skipped by a LOGTOJSON
//! rule as the agent would skip it), and records must arrive, except for issue 184's
//! configuration, whose pattern has one group more than it has field names: the agent
//! skips every record there, and so does firetail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::daemon::{eventually, scrape, Daemon, LocalRig};

fn configs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/agent-configs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Lines of each kind the configurations parse: Apache combined, syslog, CSV with a
/// timestamp, tab-separated, and issue 64's access log (combined plus response time,
/// GraphQL operation and ids).
const LINES: &[&str] = &[
    "10.0.0.9 - - [10/Oct/2000:13:55:36 -0700] \"POST /graphql HTTP/1.1\" 200 512 \"-\" \"curl/8\" 0.005 \"query\" 42;7\n",
    "10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.1\" 200 12 \"-\" \"curl/8\"\n",
    "Mar 12 12:00:08 web-1 app[308]: started\n",
    "2019-03-19T13:02:41-07:00 1,2019/03/19 13:02:41,0019001723,TRAFFIC,drop\n",
    "a\tb\tc\n",
];

/// The file a rewritten pattern matches: its last component without glob characters.
fn file_for(pattern: &Path) -> PathBuf {
    let name = pattern.file_name().unwrap().to_string_lossy();
    let mut plain = name.replace('*', "");
    if plain.ends_with('.') {
        plain.push('1');
    }
    pattern.with_file_name(plain)
}

#[test]
fn every_config_passes_check_config_as_published() {
    let files = configs();
    assert_eq!(files.len(), 7, "{files:?}");
    for file in files {
        let out = Command::new(env!("CARGO_BIN_EXE_firetail"))
            .args(["check-config", "--quiet", "-c"])
            .arg(&file)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("FIRETAIL_AGENT_ENV_FILE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Points `cfg` at the test's own endpoints, credentials and directory; returns the
/// files its flows read (one per distinct pattern) and the Kinesis streams it names.
fn rewrite(cfg: &mut Value, rig: &LocalRig, kinesis: &str) -> (Vec<PathBuf>, Vec<String>) {
    let obj = cfg.as_object_mut().unwrap();
    for k in [
        "userDefinedCredentialsProvider.classname",
        "userDefinedCredentialsProvider.location",
        "cloudwatch.endpoint",
    ] {
        obj.remove(k);
    }
    let globals = json!({
        "checkpointFile": rig.dir().join("checkpoints.json"),
        "awsAccessKeyId": "e2e", "awsSecretAccessKey": "e2e",
        "firetail.region": "us-east-1", "cloudwatch.emitMetrics": false,
        "firehose.endpoint": rig.server.endpoint_url(), "kinesis.endpoint": kinesis,
        "firetail.metrics.listen": "127.0.0.1:0", "firetail.checkpointIntervalMillis": 100,
        "shutdownTimeoutMillis": 3000,
    });
    for (k, v) in globals.as_object().unwrap() {
        obj.insert(k.clone(), v.clone());
    }
    let mut patterns: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut streams = Vec::new();
    for flow in obj["flows"].as_array_mut().unwrap() {
        let original = flow["filePattern"].as_str().unwrap().to_owned();
        let n = patterns.len();
        let pattern = patterns.entry(original.clone()).or_insert_with(|| {
            let name = Path::new(&original).file_name().unwrap();
            rig.logs.join(format!("p{n}")).join(name)
        });
        flow["filePattern"] = json!(pattern);
        flow["maxBufferAgeMillis"] = json!(1000);
        if let Some(s) = flow.get("kinesisStream").and_then(Value::as_str) {
            streams.push(s.to_owned());
        }
    }
    (patterns.values().map(|p| file_for(p)).collect(), streams)
}

async fn run_one(file: &Path) {
    let moto = crate::support::moto::moto().await;
    let rig = LocalRig::auto_create().await;
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let flows = cfg["flows"].as_array().unwrap().len() as f64;
    let (files, streams) = rewrite(&mut cfg, &rig, &moto.endpoint);
    let kinesis = moto.kinesis();
    for s in &streams {
        kinesis
            .create_stream()
            .stream_name(s)
            .shard_count(1)
            .send()
            .await
            .unwrap();
    }
    for f in &files {
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, "").unwrap();
    }
    let mut daemon = Daemon::start(rig.dir(), &cfg);
    let metrics = daemon.metrics_addr(Duration::from_secs(10)).await;
    for f in &files {
        let mut out = std::fs::OpenOptions::new().append(true).open(f).unwrap();
        std::io::Write::write_all(&mut out, LINES.concat().as_bytes()).unwrap();
    }
    let mut last = BTreeMap::new();
    let settled = eventually(Duration::from_secs(30), || {
        let m = scrape(metrics);
        let get = |k: &str| m.get(k).copied().unwrap_or(0.0);
        let read = get("firetail_records_read_total");
        last = BTreeMap::from([
            ("read", read),
            ("sent", get("firetail_records_sent_total")),
            ("skipped", get("firetail_records_skipped_total")),
        ]);
        read >= flows && read == last["sent"] + last["skipped"]
    })
    .await;
    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(settled, "{name}: {last:?}\n{}", daemon.log_tail(40));
    assert!(status.success(), "{name}");
    let errors: Vec<String> = daemon
        .log()
        .lines()
        .filter(|l| l.contains(" ERROR "))
        .map(str::to_owned)
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}");
    let skips_everything = name.starts_with("issue-184");
    assert_eq!(last["sent"] == 0.0, skips_everything, "{name}: {last:?}");
    eprintln!("agent_configs: {name}: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_config_runs_and_settles_every_line() {
    for file in configs() {
        run_one(&file).await;
    }
}
