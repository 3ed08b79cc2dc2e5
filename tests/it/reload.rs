//! SIGHUP reloads the configuration in place: a flow added starts, a flow removed drains
//! and keeps its checkpoint, an unchanged flow runs on untouched, and a flow added back
//! resumes where it stopped, so across every reload each line arrives exactly once. An
//! invalid configuration is reported and the running one kept.
//!
//! Each step waits for the daemon's own `reload: N flow(s) running` line (or for the
//! delivered lines), never for a fixed time.

use std::path::Path;
use std::time::{Duration, Instant};

use firetail_local_firehose::{Options, Server};
use serde_json::{json, Value};

use crate::support::daemon::{
    agent_config, eventually, firehose_flow, kinesis_flow, line_text, tally, Daemon, LineWriter,
    Tally, LINE_LEN,
};

const STREAM_A: &str = "e2e-reload-a";
const STREAM_B: &str = "e2e-reload-b";
/// How long one reload, or one batch's delivery, may take before the test gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_adds_and_removes_flows_without_losing_or_repeating_a_line() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let server = endpoint(tmp.path()).await;
    let dir_a = tmp.path().join("logs-a");
    let dir_b = tmp.path().join("logs-b");
    let mut writer_a = LineWriter::new(&dir_a.join("access.log"), "a");
    let mut writer_b = LineWriter::new(&dir_b.join("access.log"), "b");
    let flow_a = firehose_flow(&dir_a.join("access.log*"), STREAM_A);
    let flow_b = firehose_flow(&dir_b.join("access.log*"), STREAM_B);
    let mut cfg = agent_config(tmp.path());
    cfg["firehose.endpoint"] = json!(server.endpoint_url());
    let with_flows = |flows: &[&Value]| {
        let mut c = cfg.clone();
        c["flows"] = json!(flows);
        c
    };

    // 1. Flow A alone.
    let mut daemon = Daemon::start(tmp.path(), &with_flows(&[&flow_a]));
    let pid = daemon_pid(tmp.path());
    writer_a.write_lines(50);
    wait_delivered(&server, STREAM_A, writer_a.lines(), &daemon).await;

    // 2. A and B: A keeps running untouched, B starts.
    write_config(tmp.path(), &with_flows(&[&flow_a, &flow_b]));
    sighup(pid);
    wait_reloads(&daemon, 1, 2).await;
    assert_eq!(
        stopped_flows(&daemon),
        0,
        "an unchanged flow was restarted\n{}",
        daemon.log_tail(30)
    );
    writer_a.write_lines(50);
    writer_b.write_lines(50);
    wait_delivered(&server, STREAM_A, writer_a.lines(), &daemon).await;
    wait_delivered(&server, STREAM_B, writer_b.lines(), &daemon).await;

    // An invalid configuration is refused; both flows carry on.
    std::fs::write(tmp.path().join("agent.json"), b"{ \"flows\": [ oops").unwrap();
    sighup(pid);
    let refused = daemon
        .wait_for_log(STEP_TIMEOUT, |l| {
            l.contains("reload: the new configuration is invalid")
        })
        .await;
    assert!(
        refused.is_some(),
        "no refusal logged for an invalid configuration\n{}",
        daemon.log_tail(30)
    );
    assert!(daemon.is_running(), "{}", daemon.log_tail(30));
    assert_eq!(reload_count(&daemon), 1, "{}", daemon.log_tail(30));
    writer_a.write_lines(50);
    writer_b.write_lines(50);
    wait_delivered(&server, STREAM_A, writer_a.lines(), &daemon).await;
    wait_delivered(&server, STREAM_B, writer_b.lines(), &daemon).await;

    // 3. B alone. Lines written to A just before the SIGHUP are not waited for: the
    // removal drains what A has read, and its checkpoint keeps the rest for later.
    writer_a.write_lines(50);
    let a_configured = writer_a.written();
    write_config(tmp.path(), &with_flows(&[&flow_b]));
    sighup(pid);
    wait_reloads(&daemon, 2, 1).await;
    let t = tally_stream(&server, STREAM_A, lines("a", 0, a_configured));
    let a_at_removal = t.delivered;
    assert_eq!(
        (t.unexpected, t.duplicates),
        (0, 0),
        "flow A after its removal: {t:?}"
    );
    // A's lines written now must stay in the file: B's lines, written after them and
    // delivered, show the daemon would have had time to ship A's.
    writer_a.write_lines(50);
    writer_b.write_lines(50);
    wait_delivered(&server, STREAM_B, writer_b.lines(), &daemon).await;
    writer_b.write_lines(50);
    wait_delivered(&server, STREAM_B, writer_b.lines(), &daemon).await;
    assert_eq!(
        tally_stream(&server, STREAM_A, writer_a.lines()).delivered,
        a_at_removal,
        "flow A shipped records after it was removed\n{}",
        daemon.log_tail(30)
    );
    // The removed flow's checkpoint stays, exactly at what it delivered.
    let a_checkpointed = a_at_removal * LINE_LEN as u64;
    let kept = eventually(STEP_TIMEOUT, || {
        daemon
            .checkpoints()
            .iter()
            .any(|c| c.flow.contains(STREAM_A) && c.offset == a_checkpointed)
    })
    .await;
    assert!(
        kept,
        "flow A's checkpoint is not at {a_checkpointed} after its removal: {:?}",
        daemon.checkpoints()
    );

    // 4. A again, beside B: it resumes from its checkpoint, so the lines written while
    // it was away arrive, and none from before arrives twice.
    write_config(tmp.path(), &with_flows(&[&flow_b, &flow_a]));
    sighup(pid);
    wait_reloads(&daemon, 3, 2).await;
    writer_a.write_lines(50);
    writer_b.write_lines(50);
    wait_delivered(&server, STREAM_A, writer_a.lines(), &daemon).await;
    wait_delivered(&server, STREAM_B, writer_b.lines(), &daemon).await;

    let (status, _) = daemon.stop(STEP_TIMEOUT).await;
    let t_a = tally_stream(&server, STREAM_A, writer_a.lines());
    let t_b = tally_stream(&server, STREAM_B, writer_b.lines());
    eprintln!(
        "reload: A {} lines written, {} delivered ({} of them before its removal took \
         effect); B {} written, {} delivered; {:.1} s",
        t_a.written,
        t_a.delivered,
        a_at_removal,
        t_b.written,
        t_b.delivered,
        started.elapsed().as_secs_f64()
    );
    assert!(status.success(), "exit {status}\n{}", daemon.log_tail(40));
    for (name, t) in [("A", &t_a), ("B", &t_b)] {
        assert!(
            t.is_complete() && t.duplicates == 0,
            "flow {name}: {t:?}\n{}",
            daemon.log_tail(40)
        );
    }
}

/// A reload may name a destination no flow used at start: the daemon connects to it
/// then (its endpoint keys are read at start like every global key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_can_add_a_flow_to_a_destination_unused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let server = endpoint(tmp.path()).await;
    let dir_a = tmp.path().join("logs-a");
    let dir_k = tmp.path().join("logs-k");
    let mut writer_a = LineWriter::new(&dir_a.join("access.log"), "a");
    let mut writer_k = LineWriter::new(&dir_k.join("access.log"), "k");
    let flow_a = firehose_flow(&dir_a.join("access.log*"), STREAM_A);
    let flow_k = kinesis_flow(&dir_k.join("access.log*"), STREAM_B);
    let mut cfg = agent_config(tmp.path());
    cfg["firehose.endpoint"] = json!(server.endpoint_url());
    cfg["kinesis.endpoint"] = json!(server.endpoint_url());
    cfg["flows"] = json!([flow_a]);
    let mut daemon = Daemon::start(tmp.path(), &cfg);
    let pid = daemon_pid(tmp.path());
    writer_a.write_lines(20);
    wait_delivered(&server, STREAM_A, writer_a.lines(), &daemon).await;

    cfg["flows"] = json!([flow_a, flow_k]);
    write_config(tmp.path(), &cfg);
    sighup(pid);
    wait_reloads(&daemon, 1, 2).await;
    writer_k.write_lines(20);
    writer_a.write_lines(20);
    wait_delivered(&server, STREAM_B, writer_k.lines(), &daemon).await;
    wait_delivered(&server, STREAM_A, writer_a.lines(), &daemon).await;
    let (status, _) = daemon.stop(STEP_TIMEOUT).await;
    assert!(status.success(), "exit {status}\n{}", daemon.log_tail(40));
}

/// A local endpoint that creates streams on first use, Firehose and Kinesis alike.
async fn endpoint(dir: &Path) -> Server {
    firetail_local_firehose::start(Options {
        dir: dir.join("s3"),
        auto_create: true,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// The daemon's process id, found by its configuration path (the [`Daemon`] harness
/// does not expose its child, and the path is unique to this test's directory).
fn daemon_pid(dir: &Path) -> u32 {
    let config = dir.join("agent.json");
    let config = config.to_str().unwrap();
    let binary = env!("CARGO_BIN_EXE_firetail");
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.first() == Some(&binary.as_bytes()) && args.contains(&config.as_bytes()) {
            return pid;
        }
    }
    panic!("no firetail process runs {config}");
}

fn sighup(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -HUP {pid}: {status}");
}

fn write_config(dir: &Path, config: &Value) {
    // Written beside, then renamed: the daemon must never read a half-written file.
    let tmp = dir.join("agent.json.new");
    std::fs::write(&tmp, serde_json::to_vec_pretty(config).unwrap()).unwrap();
    std::fs::rename(&tmp, dir.join("agent.json")).unwrap();
}

fn reload_lines(daemon: &Daemon) -> Vec<String> {
    daemon
        .current_log()
        .lines()
        .filter(|l| l.contains("reload: ") && l.contains(" flow(s) running"))
        .map(str::to_string)
        .collect()
}

/// How many reloads the daemon has applied.
fn reload_count(daemon: &Daemon) -> usize {
    reload_lines(daemon).len()
}

/// N in the last `reload: N flow(s) running`.
fn last_running_count(daemon: &Daemon) -> Option<usize> {
    let line = reload_lines(daemon).pop()?;
    let after = &line[line.find("reload: ")? + "reload: ".len()..];
    after.split_whitespace().next()?.parse().ok()
}

/// How many flows reloads have stopped so far.
fn stopped_flows(daemon: &Daemon) -> usize {
    daemon
        .current_log()
        .lines()
        .filter(|l| l.contains("reload: stopping flow"))
        .count()
}

/// Waits for the `n`th applied reload, which must leave `flows` flows running.
async fn wait_reloads(daemon: &Daemon, n: usize, flows: usize) {
    let mut seen = 0;
    let done = eventually(STEP_TIMEOUT, || {
        seen = reload_count(daemon);
        seen >= n
    })
    .await;
    assert!(
        done,
        "{seen} reload(s) applied, waited for {n}\n{}",
        daemon.log_tail(30)
    );
    assert_eq!(
        last_running_count(daemon),
        Some(flows),
        "{}",
        daemon.log_tail(30)
    );
}

/// Lines `from..to` of the writer with `prefix`.
fn lines(prefix: &str, from: u64, to: u64) -> Vec<String> {
    (from..to).map(|n| line_text(prefix, n)).collect()
}

fn tally_stream(server: &Server, stream: &str, written: impl IntoIterator<Item = String>) -> Tally {
    let delivered = server.delivered(stream);
    tally(written, delivered.iter().map(|b| b.as_ref()))
}

/// Waits until every line in `written` has arrived on `stream`.
async fn wait_delivered(
    server: &Server,
    stream: &str,
    written: impl Iterator<Item = String>,
    daemon: &Daemon,
) {
    let written: Vec<String> = written.collect();
    let mut last = Tally::default();
    let done = eventually(STEP_TIMEOUT, || {
        last = tally_stream(server, stream, written.iter().cloned());
        last.missing == 0
    })
    .await;
    assert!(
        done,
        "{stream}: not everything arrived: {last:?}\n{}",
        daemon.log_tail(30)
    );
}
