//! The daemon against moto's CloudWatch Logs (a third-party implementation of the
//! `logs` API, served on the same port as the rest of moto):
//! - every line written arrives in the log stream once, in order, as one event each,
//!   stamped with the time it was read;
//! - events CloudWatch Logs refuses as too old (`rejectedLogEventsInfo`) are reported
//!   (a WARN, `firetail_records_rejected_total`) and acknowledged: the checkpoint reaches
//!   the end of the file and nothing is sent again. A file read now cannot hold events
//!   older than 14 days, so the debug-only fault `read-time-days-ago` stamps them 20 days
//!   back (moto checks the same 14 days as the service);
//! - a missing log stream is a permanent error, reported and never checkpointed past,
//!   unless `firetail.logs.createMissing` asks for it to be created.
//!
//! What moto does not check, and these tests therefore do not claim: the 1 MiB, 10,000
//! event and 24 h limits of a call (unit tests in `firetail_sink::batch` and `logs`).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::daemon::{agent_config, logs_flow, scrape, Daemon, LineWriter, LINE_LEN};
use crate::support::moto::{moto, Moto};

const GROUP: &str = "e2e-group";
const STREAM: &str = "e2e-stream";

async fn create_group_and_stream(moto: &Moto) {
    let logs = moto.logs();
    logs.create_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .expect("CreateLogGroup");
    logs.create_log_stream()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .send()
        .await
        .expect("CreateLogStream");
}

/// Every event of the stream from its head, in the order GetLogEvents returns them (by
/// timestamp, then as ingested): (timestamp, message).
async fn read_events(moto: &Moto) -> Vec<(i64, String)> {
    let logs = moto.logs();
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = logs
            .get_log_events()
            .log_group_name(GROUP)
            .log_stream_name(STREAM)
            .start_from_head(true)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("GetLogEvents");
        let events = page.events();
        if events.is_empty() {
            return out;
        }
        out.extend(events.iter().map(|e| {
            (
                e.timestamp().unwrap_or_default(),
                e.message().unwrap_or_default().to_owned(),
            )
        }));
        let next = page.next_forward_token().map(str::to_owned);
        if next.is_none() || next == token {
            return out;
        }
        token = next;
    }
}

fn config(dir: &std::path::Path, moto: &Moto, flow: serde_json::Value) -> serde_json::Value {
    let mut cfg = agent_config(dir);
    cfg["logs.endpoint"] = json!(moto.endpoint);
    cfg["flows"] = json!([flow]);
    cfg
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_arrives_in_the_log_stream_once_and_in_order() {
    let moto = moto().await;
    create_group_and_stream(&moto).await;
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let mut writer = LineWriter::new(&logs.join("app.log"), "cwl");
    let flow = logs_flow(&logs.join("app.log*"), GROUP, STREAM);
    let before = now_millis();
    let mut daemon = Daemon::start(tmp.path(), &config(tmp.path(), &moto, flow));
    for _ in 0..20 {
        writer.write_lines(100);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let written: Vec<String> = writer.lines().collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut events = read_events(&moto).await;
    while events.len() < written.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(300)).await;
        events = read_events(&moto).await;
    }
    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    let after = now_millis();
    let events = read_events(&moto).await;
    let messages: Vec<&str> = events.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(
        messages.len(),
        written.len(),
        "{} events for {} lines\n{}",
        messages.len(),
        written.len(),
        daemon.log_tail(30)
    );
    // Exactly once and in file order: the stream holds the written lines, each as one
    // event (the record's bytes, its newline included).
    assert!(
        messages.iter().zip(&written).all(|(m, w)| m == w),
        "the stream's events differ from the lines written (first difference at {:?})",
        messages.iter().zip(&written).position(|(m, w)| m != w)
    );
    assert!(messages.iter().all(|m| m.len() == LINE_LEN));
    // Stamped with the time each line was read.
    assert!(
        events.iter().all(|(t, _)| (before..=after).contains(t)),
        "an event's timestamp is outside the run ({before}..{after})"
    );
    assert!(status.success(), "exit {status}\n{}", daemon.log_tail(40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_refused_as_too_old_are_reported_and_acknowledged() {
    let moto = moto().await;
    create_group_and_stream(&moto).await;
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let mut writer = LineWriter::new(&logs.join("old.log"), "old");
    let flow = logs_flow(&logs.join("old.log*"), GROUP, STREAM);
    let mut cfg = config(tmp.path(), &moto, flow);
    cfg["firetail.metrics.listen"] = json!("127.0.0.1:0");
    let mut daemon = Daemon::start_with_env(
        tmp.path(),
        &cfg,
        &[("FIRETAIL_TEST_FAULT", "read-time-days-ago:20")],
    );
    let addr = daemon.metrics_addr(Duration::from_secs(10)).await;
    writer.write_lines(200);
    let file_end = 200 * LINE_LEN as u64;
    let checkpointed = crate::support::daemon::eventually(Duration::from_secs(20), || {
        daemon
            .checkpoints()
            .iter()
            .any(|c| c.path.ends_with("old.log") && c.offset == file_end)
    })
    .await;
    assert!(
        checkpointed,
        "the checkpoint did not reach the end of the file: {:?}\n{}",
        daemon.checkpoints(),
        daemon.log_tail(30)
    );
    let metrics = scrape(addr);
    let rejected = metrics
        .get("firetail_records_rejected_total")
        .copied()
        .unwrap_or(0.0);
    // moto reports the last too-old event's own index where the API reference says the
    // index after it (an exclusive end): by the reference, the last event of each call
    // was accepted, though moto stored none. Either way every line is settled.
    assert!(
        (150.0..=200.0).contains(&rejected),
        "{rejected} events counted as refused for 200 too old ones\n{}",
        daemon.log_tail(30)
    );
    assert!(
        read_events(&moto).await.is_empty(),
        "moto stored too-old events"
    );
    let log = daemon.log();
    assert!(
        log.contains("refused records for good") && log.contains("TooOldLogEvent"),
        "no WARN names the refused events\n{}",
        daemon.log_tail(30)
    );
    // Nothing was sent again: no retries, and the flow kept delivering (no permanent
    // error, no backoff storm) — the refused events are settled, not failed.
    let retried = metrics
        .get("firetail_records_retried_total")
        .copied()
        .unwrap_or(0.0);
    assert_eq!(retried, 0.0, "refused events were sent again");
    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    assert!(status.success(), "exit {status}\n{}", daemon.log_tail(40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_log_stream_is_reported_or_created_when_asked() {
    let moto = moto().await;
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let mut writer = LineWriter::new(&logs.join("new.log"), "new");
    writer.write_lines(50);
    let flow = logs_flow(&logs.join("new.log*"), GROUP, STREAM);

    // Not asked to create it: a permanent error, nothing checkpointed.
    let mut daemon = Daemon::start(tmp.path(), &config(tmp.path(), &moto, flow.clone()));
    let reported = daemon
        .wait_for_log(Duration::from_secs(20), |l| {
            l.contains("ERROR") && l.contains("ResourceNotFoundException")
        })
        .await;
    assert!(reported.is_some(), "{}", daemon.log_tail(30));
    assert!(
        daemon.checkpoints().iter().all(|c| c.offset == 0),
        "checkpointed past records never delivered: {:?}",
        daemon.checkpoints()
    );
    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    assert!(status.success(), "exit {status}\n{}", daemon.log_tail(40));

    // Asked to: the group and stream are created and every line arrives.
    let mut flow = flow;
    flow["firetail.logs.createMissing"] = json!(true);
    let mut daemon = Daemon::start(tmp.path(), &config(tmp.path(), &moto, flow));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut events = Vec::new();
    while Instant::now() < deadline {
        if moto
            .logs()
            .describe_log_streams()
            .log_group_name(GROUP)
            .send()
            .await
            .is_ok_and(|s| !s.log_streams().is_empty())
        {
            events = read_events(&moto).await;
            if events.len() >= 50 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let messages: Vec<String> = events.into_iter().map(|(_, m)| m).collect();
    let written: Vec<String> = writer.lines().collect();
    assert_eq!(messages, written, "{}", daemon.log_tail(30));
    let (status, _) = daemon.stop(Duration::from_secs(10)).await;
    assert!(status.success(), "exit {status}\n{}", daemon.log_tail(40));
}
