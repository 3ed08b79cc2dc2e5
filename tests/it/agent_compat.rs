//! Drop-in details, end to end through the real binary: settings the Kinesis Agent
//! accepts must work the way they work there.

use std::time::Duration;

use firetail_local_firehose::{Faults, Latency, Options};
use serde_json::json;

use crate::support::daemon::{eventually, Daemon, LineWriter, LocalRig};

const STREAM: &str = "e2e-compat";

/// Waits until every line `writer` wrote reached `STREAM`, stops the daemon, asserts both
/// went well, and returns the daemon's log.
async fn delivers_all_and_stops(
    rig: &LocalRig,
    writer: &LineWriter,
    daemon: &mut Daemon,
) -> String {
    rig.finish_run(writer, STREAM, daemon, Duration::from_secs(20))
        .await
        .assert_complete(daemon);
    daemon.log()
}

/// `socketTimeoutMillis: 0` and `connectionTimeoutMillis: 0` mean "no timeout" in the
/// agent's Java SDK. Answers that take 300 ms must arrive, not time out at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_timeouts_mean_no_timeout() {
    let rig = LocalRig::start(Options {
        auto_create: true,
        faults: Faults {
            latency: Latency::Uniform(Duration::from_millis(300), Duration::from_millis(300)),
            ..Faults::default()
        },
        ..Default::default()
    })
    .await;
    let mut writer = rig.writer("z");
    writer.write_lines(200);
    let mut cfg = rig.config(vec![rig.flow(STREAM)]);
    cfg["socketTimeoutMillis"] = json!(0);
    cfg["connectionTimeoutMillis"] = json!("0");
    let mut daemon = Daemon::start(rig.dir(), &cfg);
    let log = delivers_all_and_stops(&rig, &writer, &mut daemon).await;
    assert!(!log.contains("TimeoutError"), "{log}");
}

/// `checkpointTimeToLiveDays` governs firetail's own store: the checkpoint of a file gone
/// for longer is forgotten at start (it was a fixed 7 days).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_time_to_live_days_governs_the_store() {
    let rig = LocalRig::auto_create().await;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let hour = 3_600_000;
    let entry = |inode: u64, gone_hours_ago: u64| {
        json!({"flow": "fh:elsewhere:/var/log/old*", "fingerprint": "0123456789abcdef",
            "dev": 1, "inode": inode, "path": format!("/var/log/old.{inode}"), "offset": 10,
            "marker": "000000000000002a", "size": 10, "mtime_ms": 1_700_000_000_000u64,
            "updated_ms": 1_700_000_000_500u64, "gone_since_ms": now_ms - gone_hours_ago * hour})
    };
    let checkpoints = rig.dir().join("checkpoints.json");
    let file = json!({"version": 1, "checkpoints": [entry(1, 40), entry(2, 12), entry(3, 24 * 6)]});
    std::fs::write(&checkpoints, file.to_string()).unwrap();
    let mut cfg = rig.config(vec![rig.flow(STREAM)]);
    cfg["checkpointTimeToLiveDays"] = json!(2);
    let mut daemon = Daemon::start(rig.dir(), &cfg);
    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    assert!(status.success(), "{}", daemon.log_tail(20));
    let mut kept: Vec<u64> = daemon
        .checkpoints()
        .iter()
        .filter(|e| e.flow == "fh:elsewhere:/var/log/old*")
        .map(|e| e.inode)
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        vec![1, 2],
        "gone 40 h and 12 h are kept, gone 6 days is forgotten"
    );
}

/// The agent published CloudWatch metrics to us-east-1 whatever the host's region
/// (while `cloudwatch.endpoint` is unset); firetail uses the host's region and warns at
/// start, as it does for Firehose. `AWS_ENDPOINT_URL_CLOUDWATCH` keeps the publisher on
/// 127.0.0.1 (a closed port: its calls fail, which is not what is tested).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_metrics_moving_region_is_warned_at_start() {
    let rig = LocalRig::auto_create().await;
    let mut cfg = rig.config(vec![rig.flow(STREAM)]);
    let obj = cfg.as_object_mut().unwrap();
    obj.remove("firetail.region");
    obj.insert("cloudwatch.emitMetrics".into(), json!(true));
    let env = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:9"),
    ];
    let mut daemon = Daemon::start_with_env(rig.dir(), &cfg, &env);
    let warned = daemon
        .wait_for_log(Duration::from_secs(10), |l| {
            l.contains("WARN")
                && l.contains("CloudWatch metrics region is eu-west-1")
                && l.contains("firetail.cloudwatch.region")
        })
        .await;
    let _ = daemon.stop(Duration::from_secs(10)).await;
    assert!(warned.is_some(), "{}", daemon.log_tail(30));

    // Pinned to a region: nothing to warn about.
    cfg["firetail.cloudwatch.region"] = json!("eu-west-1");
    let mut daemon = Daemon::start_with_env(rig.dir(), &cfg, &env);
    daemon
        .wait_for_log(Duration::from_secs(10), |l| l.contains("Startup completed"))
        .await;
    let _ = daemon.stop(Duration::from_secs(10)).await;
    assert!(
        !daemon.log().contains("CloudWatch metrics region is"),
        "{}",
        daemon.log_tail(30)
    );
}

/// `assumeRoleARN` off EC2 with no region anywhere (no `AWS_REGION`, no region key): the
/// agent signs AssumeRole for us-east-1 (its global STS endpoint, or the region in
/// `sts.endpoint`'s host), so it never lacks a signing region. Here `sts.endpoint` is
/// moto on 127.0.0.1, which names no region; every line must arrive with the role's
/// credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_off_ec2_without_a_region_signs_as_the_agent_does() {
    let moto = crate::support::moto::moto().await;
    let rig = LocalRig::auto_create().await;
    let mut writer = rig.writer("r");
    writer.write_lines(100);
    let mut cfg = rig.config(vec![rig.flow(STREAM)]);
    cfg.as_object_mut().unwrap().remove("firetail.region");
    cfg["assumeRoleARN"] = json!("arn:aws:iam::123456789012:role/firetail-e2e");
    cfg["sts.endpoint"] = json!(moto.endpoint);
    let mut daemon = Daemon::start_with_env(rig.dir(), &cfg, &[("AWS_REGION", "")]);
    let log = delivers_all_and_stops(&rig, &writer, &mut daemon).await;
    assert!(!log.contains("signing region"), "{log}");
}

/// The usual "a line that does not start with whitespace" start pattern uses a
/// look-ahead; it stopped the daemon. Now Java stack traces frame as the agent frames
/// them, and a `matchPattern` with look-behind and a back-reference converts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_look_ahead_start_patterns_frame_multi_line_events() {
    let rig = LocalRig::auto_create().await;
    std::fs::create_dir_all(&rig.logs).unwrap();
    let log = rig.logs.join("app.log");
    let events = [
        "2024-01-01 10:00:00 ERROR boom\n\tat A.b(A.java:1)\n\tat C.d(C.java:2)\n",
        "2024-01-01 10:00:01 INFO ok\n",
        "2024-01-01 10:00:02 WARN slow\n  caused by: x\n",
        "2024-01-01 10:00:03 INFO next\n",
    ];
    std::fs::write(&log, events.concat()).unwrap();
    let mut flow = crate::support::daemon::firehose_flow(&rig.logs.join("app.log"), STREAM);
    flow["multiLineStartPattern"] = json!("^(?!\\s)");
    flow["fileFooterPattern"] = json!("(?<=^)END(?= OF LOG$)");
    let cfg = rig.config(vec![flow]);
    let mut daemon = Daemon::start(rig.dir(), &cfg);
    // The last event is emitted once the next start line arrives.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"2024-01-01 10:00:04 INFO last\n"))
        .unwrap();
    let expected: Vec<&[u8]> = events.iter().map(|e| e.as_bytes()).collect();
    let arrived = eventually(Duration::from_secs(20), || {
        let got = rig.server.delivered(STREAM);
        expected
            .iter()
            .all(|e| got.iter().any(|g| g.as_ref() == *e))
    })
    .await;
    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    assert!(
        arrived,
        "{:?}\n{}",
        rig.server.delivered(STREAM),
        daemon.log_tail(30)
    );
    assert!(status.success());
}

/// A hostile `matchPattern` (exponential backtracking on these lines) cannot stall the
/// flow: each record gives up at the step limit and is sent raw, counted per flow and
/// per pattern.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_match_pattern_sends_records_raw_and_counts_them() {
    let rig = LocalRig::auto_create().await;
    std::fs::create_dir_all(&rig.logs).unwrap();
    let log = rig.logs.join("app.log");
    let line = format!("{}\n", "a".repeat(40));
    std::fs::write(&log, line.repeat(10)).unwrap();
    let mut flow = crate::support::daemon::firehose_flow(&log, STREAM);
    flow["dataProcessingOptions"] = json!([{"optionName": "LOGTOJSON", "logFormat": "SYSLOG",
        "matchPattern": "(?:(a|aa)+)+(?!a)\\1b", "customFieldNames": ["x"]}]);
    let mut cfg = rig.config(vec![flow]);
    cfg["firetail.metrics.listen"] = json!("127.0.0.1:0");
    let mut daemon = Daemon::start(rig.dir(), &cfg);
    let metrics = daemon.metrics_addr(Duration::from_secs(10)).await;
    let all = eventually(Duration::from_secs(30), || {
        rig.server.delivered(STREAM).len() == 10
    })
    .await;
    let scraped = crate::support::daemon::scrape(metrics);
    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    assert!(all, "{}", daemon.log_tail(30));
    assert!(status.success());
    assert!(rig
        .server
        .delivered(STREAM)
        .iter()
        .all(|r| r.as_ref() == line.as_bytes()));
    assert_eq!(
        scraped.get("firetail_records_processing_errors_total"),
        Some(&10.0)
    );
    assert_eq!(scraped.get("firetail_regex_step_limit_total"), Some(&10.0));
    let warnings = daemon
        .log()
        .lines()
        .filter(|l| l.contains("regex gave up"))
        .count();
    assert_eq!(warnings, 1, "logged once, counted ten times");
}

/// A TCP relay standing in for an HTTP proxy: forwards every connection to `target`
/// and keeps the first line of each request it saw.
async fn proxy_relay(
    target: std::net::SocketAddr,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut first = vec![0u8; 4096];
                let n = client.read(&mut first).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&first[..n]);
                record
                    .lock()
                    .unwrap()
                    .push(head.lines().next().unwrap_or_default().to_owned());
                let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                if upstream.write_all(&first[..n]).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (addr, seen)
}

/// Running from the agent's configuration, firetail reads the agent's environment file
/// (here named by FIRETAIL_AGENT_ENV_FILE): credentials and AWS_REGION from it, and
/// the JVM proxy flags in JVM_ARGS as firetail's proxy settings (HTTP_PROXY). The start
/// log says what was taken, without the secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_environment_file_gives_credentials_region_and_proxy() {
    let rig = LocalRig::auto_create().await;
    let firehose: std::net::SocketAddr = rig
        .server
        .endpoint_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let (proxy, seen) = proxy_relay(firehose).await;
    let env_file = rig.dir().join("aws-kinesis-agent");
    std::fs::write(
        &env_file,
        format!(
            "AWS_ACCESS_KEY_ID=AKIAFROMENVFILE\nAWS_SECRET_ACCESS_KEY=\"s3cr3t value\"\nAWS_REGION=eu-west-1\n\
             JVM_ARGS=\"-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort={}\"\n",
            proxy.port()
        ),
    )
    .unwrap();
    let mut writer = rig.writer("e");
    writer.write_lines(100);
    let mut cfg = rig.config(vec![rig.flow(STREAM)]);
    let obj = cfg.as_object_mut().unwrap();
    for k in ["awsAccessKeyId", "awsSecretAccessKey", "firetail.region"] {
        obj.remove(k);
    }
    let env_path = env_file.display().to_string();
    let env = [
        ("FIRETAIL_AGENT_ENV_FILE", env_path.as_str()),
        ("AWS_REGION", ""),
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
        ("HTTP_PROXY", ""),
        ("http_proxy", ""),
        ("NO_PROXY", ""),
        ("no_proxy", ""),
    ];
    let mut daemon = Daemon::start_with_env(rig.dir(), &cfg, &env);
    let log = delivers_all_and_stops(&rig, &writer, &mut daemon).await;
    let taken = log
        .lines()
        .find(|l| l.contains("read the Kinesis Agent's environment file"))
        .unwrap_or_else(|| panic!("no line saying what was taken\n{log}"));
    for part in [
        "AWS_ACCESS_KEY_ID=AKIAFROMENVFILE",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION=eu-west-1",
        &format!(
            "HTTP_PROXY=http://127.0.0.1:{} (from JVM_ARGS -Dhttp.proxyHost)",
            proxy.port()
        ),
    ] {
        assert!(taken.contains(part), "{part} missing from: {taken}");
    }
    assert!(!log.contains("s3cr3t"), "the secret was logged");
    let seen = seen.lock().unwrap().clone();
    assert!(
        !seen.is_empty() && seen.iter().all(|l| l.starts_with("POST http://127.0.0.1")),
        "requests did not go through the proxy: {seen:?}"
    );
}
