//! What the daemon says about itself, checked against what actually happened: its
//! Prometheus counters against the endpoint's own record of accepted records, the health
//! endpoints, and the Kinesis Agent's status lines (the format users alarm on).
//!
//! The counter relations, once every line is acknowledged (nothing in flight):
//! - `records_sent` = records the endpoint accepted *and answered* (each got a RecordId);
//! - endpoint accepted = `records_sent` + records accepted with a lost response;
//! - `records_attempted` = `records_sent` + `records_failed` (every attempted record
//!   either got accepted or failed, per record or with its whole call);
//! - `records_retried` = `records_failed` (every failure is retried, nothing dropped);
//! - `records_failed` >= per-record rejections + lost-response records (both are
//!   failures as far as the daemon can tell).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use firetail_local_firehose::{Faults, Latency, Options, Outcome};
use regex::Regex;
use serde_json::json;

use crate::support::daemon::{eventually, http_get, scrape, tally, Daemon, LocalRig};

const STREAM: &str = "e2e-metrics";

fn get(m: &HashMap<String, f64>, name: &str) -> u64 {
    m.get(name).copied().unwrap_or(0.0) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_agree_with_the_endpoint_and_status_lines_match_the_agents_format() {
    let started = Instant::now();
    let rig = LocalRig::start(Options {
        auto_create: true,
        faults: Faults {
            throttle_rate: 0.10,
            partial_failure_rate: 0.20,
            error_rate: 0.05,
            reset_rate: 0.05,
            latency: Latency::Uniform(Duration::from_millis(1), Duration::from_millis(20)),
            outages: Vec::new(),
        },
        seed: 7,
        ..Default::default()
    })
    .await;
    let mut writer = rig.writer("m");
    let mut flow = rig.flow(STREAM);
    flow["maxBufferSizeRecords"] = json!(100);
    flow["retryInitialBackoffMillis"] = json!(20);
    flow["retryMaxBackoffMillis"] = json!(100);
    let mut cfg = rig.config(vec![flow]);
    cfg["firetail.metrics.listen"] = json!("127.0.0.1:0");
    cfg["log.statusReportingPeriodSeconds"] = json!(1);
    let mut daemon = Daemon::start(rig.dir(), &cfg);
    let addr = daemon.metrics_addr(Duration::from_secs(10)).await;

    let (live, _) = http_get(addr, "/health/live").unwrap();
    assert_eq!(live, 200);
    let mut last_sent = 0;
    for round in 0..30 {
        writer.write_lines(50);
        if round % 5 == 4 {
            let m = scrape(addr);
            let sent = get(&m, "firetail_records_sent_total");
            assert!(sent >= last_sent, "records_sent went backwards");
            last_sent = sent;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut m = HashMap::new();
    let caught_up = eventually(Duration::from_secs(60), || {
        let delivered = rig.server.delivered(STREAM);
        let done = tally(writer.lines(), delivered.iter().map(|b| b.as_ref())).missing == 0;
        m = scrape(addr);
        // Every line can be at the endpoint while a retry of a lost response is still
        // pending: caught up means every record read was also acknowledged.
        let settled =
            get(&m, "firetail_records_sent_total") == get(&m, "firetail_records_read_total");
        done && settled
            && m.contains_key("firetail_bytes_behind")
            && get(&m, "firetail_bytes_behind") == 0
    })
    .await;
    assert!(caught_up, "not caught up: {m:?}\n{}", daemon.log_tail(30));
    let (ready, body) = http_get(addr, "/health/ready").unwrap();
    assert_eq!(ready, 200, "{body}");

    let accepted = rig.server.accepted();
    let answered = accepted
        .iter()
        .filter(|r| r.outcome == Outcome::Answered)
        .count() as u64;
    let lost = accepted.len() as u64 - answered;
    let stats = rig.server.stats();
    let rejected: u64 = stats.records_rejected.values().sum();
    let sent = get(&m, "firetail_records_sent_total");
    let failed = get(&m, "firetail_records_failed_total");
    let retried = get(&m, "firetail_records_retried_total");
    let attempted = get(&m, "firetail_records_attempted_total");
    let read = get(&m, "firetail_records_read_total");
    eprintln!(
        "daemon_metrics: sent {sent}, failed {failed}, retried {retried}, attempted {attempted}, \
         read {read}; endpoint: accepted {} (answered {answered}, lost response {lost}), \
         rejected per record {rejected}, faults {:?}",
        accepted.len(),
        stats.faults
    );
    assert_eq!(
        sent, answered,
        "records_sent vs records the endpoint answered"
    );
    assert_eq!(stats.records_accepted, sent + lost);
    assert_eq!(attempted, sent + failed, "attempted = sent + failed");
    assert_eq!(retried, failed, "every failed record is retried");
    assert!(
        failed >= rejected + lost,
        "failed {failed} < rejected {rejected} + lost {lost}"
    );
    assert_eq!(read, writer.written(), "records_read counts each line once");

    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    assert!(status.success());
    let log = daemon.log();
    let tailer = Regex::new(
        r"FileTailer\[(fh|kinesis):.+\]: Tailer Progress: Tailer has parsed (\d+) records \((\d+) bytes\), transformed (\d+) records, skipped (\d+) records, and has successfully sent (\d+) records to destination\.",
    )
    .unwrap();
    let agent = Regex::new(
        r"Agent: Progress: (\d+) records parsed \((\d+) bytes\), and (\d+) records sent successfully to destinations\. Uptime: (\d+)ms",
    )
    .unwrap();
    let tailer_lines: Vec<_> = log.lines().filter_map(|l| tailer.captures(l)).collect();
    let agent_lines: Vec<_> = log.lines().filter_map(|l| agent.captures(l)).collect();
    assert!(
        !tailer_lines.is_empty() && !agent_lines.is_empty(),
        "no status lines in the agent's format\n{log}"
    );
    // The last tailer line is the one logged at shutdown, with the final counts.
    let last = tailer_lines.last().unwrap();
    let n = |i: usize| last[i].parse::<u64>().unwrap();
    assert_eq!(n(2), writer.written(), "parsed");
    assert_eq!(
        n(3),
        writer.written() * crate::support::daemon::LINE_LEN as u64
    );
    assert_eq!(n(6), sent, "sent in the status line vs the metric");
    // At shutdown the agent-wide line comes once more, with the same totals, and then the
    // agent's shutdown line.
    let last_agent = agent_lines.last().unwrap();
    assert_eq!(
        (&last_agent[1], &last_agent[2], &last_agent[3]),
        (&last[2], &last[3], &last[6])
    );
    let lines: Vec<&str> = log.lines().collect();
    let done = lines
        .iter()
        .position(|l| l.contains("Agent: Shut down completed in ") && l.contains(" ms. Uptime: "))
        .unwrap_or_else(|| panic!("no shutdown line\n{log}"));
    let final_agent = lines.iter().rposition(|l| agent.is_match(l)).unwrap();
    assert!(
        final_agent < done,
        "the final status comes before the shutdown line"
    );
    eprintln!(
        "daemon_metrics: {} tailer and {} agent status lines; {:.1} s",
        tailer_lines.len(),
        agent_lines.len(),
        started.elapsed().as_secs_f64()
    );
}

/// The status lines' byte figure is every byte read, as the agent's `TotalBytesConsumed`:
/// skipped header lines and an unfinished last line count, though no record holds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lines_count_every_byte_read_and_come_once_more_at_shutdown() {
    const STREAM: &str = "e2e-status-bytes";
    let rig = LocalRig::auto_create().await;
    std::fs::create_dir_all(&rig.logs).unwrap();
    let body = "#Version: 1.0\n#Fields: a b\nline one\nline two\nline three\nunfinished";
    std::fs::write(rig.logs.join("access.log"), body).unwrap();
    let mut flow = rig.flow(STREAM);
    flow["skipHeaderLines"] = json!(2);
    let mut cfg = rig.config(vec![flow]);
    // Longer than the test: the only status lines are the ones logged at shutdown.
    cfg["log.statusReportingPeriodSeconds"] = json!(300);
    let mut daemon = Daemon::start(rig.dir(), &cfg);
    let delivered = eventually(Duration::from_secs(20), || {
        rig.server.delivered(STREAM).len() == 3
    })
    .await;
    assert!(delivered, "{}", daemon.log_tail(20));
    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    assert!(status.success());
    let log = daemon.log();
    let expect_tailer = format!(
        "Tailer Progress: Tailer has parsed 3 records ({} bytes), transformed 0 records, \
         skipped 0 records, and has successfully sent 3 records to destination.",
        body.len()
    );
    let expect_agent = format!(
        "Agent: Progress: 3 records parsed ({} bytes), and 3 records sent successfully to \
         destinations.",
        body.len()
    );
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(count(&expect_tailer), 1, "{log}");
    assert_eq!(count(&expect_agent), 1, "{log}");
    assert_eq!(count("Agent: Shut down completed in "), 1, "{log}");
}
