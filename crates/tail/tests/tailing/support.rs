//! A running `run_flow` with a fake consumer that records and acknowledges.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use firetail_tail::{
    run_flow, Acker, CheckpointStore, FlowTailStatus, FramingConfig, InitialPosition, Record, Span,
    TailConfig,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Decides, from a record's data, whether the consumer withholds its acknowledgement.
pub type WithholdIf = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// How the fake consumer acknowledges.
#[derive(Clone)]
pub enum AckPolicy {
    /// Every record, at once, in order.
    Immediately,
    /// Each batch acknowledged in reverse order.
    Reversed,
    /// Records whose data satisfies the predicate are never acknowledged.
    Withhold(WithholdIf),
    /// Nothing is acknowledged until the gate opens.
    Gated(Arc<tokio::sync::Semaphore>),
}

pub struct Flow {
    pub store: CheckpointStore,
    pub shutdown: CancellationToken,
    pub received: Arc<Mutex<Vec<Record>>>,
    pub status: watch::Receiver<FlowTailStatus>,
    /// Upgrades while the tailer still holds its record sender, that is, while it is in
    /// its read loop.
    records_sender: mpsc::WeakSender<Vec<Record>>,
    tailer: JoinHandle<()>,
    consumer: JoinHandle<()>,
}

pub fn config(pattern: &Path) -> TailConfig {
    let mut cfg = TailConfig::new(
        "flow-1",
        &pattern.to_string_lossy(),
        FramingConfig::firehose(),
    );
    cfg.initial_position = InitialPosition::StartOfFile;
    cfg.reconcile_interval = Duration::from_millis(100);
    cfg.poll_interval = Duration::from_millis(20);
    cfg
}

impl Flow {
    pub fn start(cfg: TailConfig, checkpoint_path: &Path, policy: AckPolicy) -> Flow {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let store = CheckpointStore::open(checkpoint_path, Duration::from_millis(50)).unwrap();
        let (tx, mut rx) = mpsc::channel::<Vec<Record>>(16);
        let records_sender = tx.downgrade();
        let (acker, acks) = Acker::channel();
        let (status_tx, status) = watch::channel(FlowTailStatus::default());
        let shutdown = CancellationToken::new();
        let flow = store.flow(&cfg.flow_id);
        let token = shutdown.clone();
        let tailer = tokio::spawn(async move {
            run_flow(cfg, flow, tx, acks, status_tx, token)
                .await
                .unwrap();
        });
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        let consumer = tokio::spawn(async move {
            while let Some(batch) = rx.recv().await {
                sink.lock().unwrap().extend(batch.iter().cloned());
                let spans: Vec<(Span, bool)> = batch
                    .iter()
                    .map(|r| {
                        let keep = match &policy {
                            AckPolicy::Withhold(p) => !p(&r.data),
                            _ => true,
                        };
                        (r.span, keep)
                    })
                    .collect();
                match &policy {
                    AckPolicy::Reversed => spans.iter().rev().for_each(|(s, _)| acker.ack(*s)),
                    AckPolicy::Gated(gate) => {
                        let _permit = gate.acquire().await.unwrap();
                        spans.iter().for_each(|(s, _)| acker.ack(*s));
                    }
                    _ => spans
                        .iter()
                        .filter(|(_, k)| *k)
                        .for_each(|(s, _)| acker.ack(*s)),
                }
            }
        });
        Flow {
            store,
            shutdown,
            received,
            status,
            records_sender,
            tailer,
            consumer,
        }
    }

    /// A flow whose consumer acknowledges nothing until permits are added to the gate.
    pub fn start_gated(
        cfg: TailConfig,
        checkpoint_path: &Path,
    ) -> (Flow, Arc<tokio::sync::Semaphore>) {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let flow = Flow::start(cfg, checkpoint_path, AckPolicy::Gated(gate.clone()));
        (flow, gate)
    }

    /// The received records' data, as strings, in order.
    pub fn lines(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.data).into_owned())
            .collect()
    }

    /// Waits (up to 20 s) until `done(lines)` holds.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let lines = self.lines();
            if done(&lines) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}; got {} lines; status {:#?}",
                    lines.len(),
                    *self.status.borrow()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits (up to 20 s) until the tailer publishes a status for which `done` holds.
    pub async fn wait_status(&self, what: &str, done: impl Fn(&FlowTailStatus) -> bool) {
        let mut status = self.status.clone();
        let waited = tokio::time::timeout(Duration::from_secs(20), async {
            while !done(&status.borrow_and_update()) {
                if status.changed().await.is_err() {
                    return false;
                }
            }
            true
        })
        .await;
        assert!(
            waited == Ok(true),
            "timed out waiting for {what}; got {} lines; status {:#?}",
            self.lines().len(),
            *self.status.borrow()
        );
    }

    /// Waits until the tailer reports each of `paths` read and acknowledged up to its
    /// size on disk: every record it will take from those bytes has been received.
    pub async fn wait_acked_to_the_end(&self, paths: &[&Path]) {
        let sizes: Vec<(PathBuf, u64)> = paths
            .iter()
            .map(|p| (p.to_path_buf(), std::fs::metadata(p).unwrap().len()))
            .collect();
        self.wait_status("every file acknowledged to its end", |s| {
            sizes.iter().all(|(path, size)| {
                s.files
                    .iter()
                    .any(|f| &f.path == path && f.acked_offset == *size)
            })
        })
        .await;
    }

    /// Waits until nothing the tailer tracks is unread or unacknowledged, then lets a
    /// moment pass: a file read twice (the bug such tests guard against) may not be
    /// tracked, or not yet, so only time shows that no duplicate follows.
    pub async fn settle(&self) {
        self.wait_status("every tracked byte read and acknowledged", |s| {
            s.bytes_in_flight == 0
                && s.files
                    .iter()
                    .all(|f| f.read_offset == f.size && f.acked_offset == f.read_offset)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    /// Waits until the tailer has left its read loop (after `shutdown`): it reads and
    /// scans no more, though it still applies acknowledgements.
    pub async fn wait_reading_stopped(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.records_sender.upgrade().is_some() {
            assert!(
                Instant::now() < deadline,
                "the tailer never stopped reading"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Shuts down in the contract's order and flushes the checkpoint file.
    pub async fn stop(self) -> Vec<String> {
        let lines = self.lines();
        self.shutdown.cancel();
        self.consumer.await.unwrap();
        self.tailer.await.unwrap();
        self.store.flush_now().unwrap();
        lines
    }
}

/// A line writer that appends whole lines with O_APPEND and reopens its path when the
/// inode behind it changes (what a server does on SIGHUP after logrotate's `create`).
pub struct Writer {
    pub path: PathBuf,
    file: File,
    pub written: Vec<String>,
}

impl Writer {
    pub fn new(path: &Path) -> Writer {
        Writer {
            path: path.to_owned(),
            file: open_append(path),
            written: Vec::new(),
        }
    }

    pub fn line(&mut self, text: &str) {
        let line = format!("{text}\n");
        self.file.write_all(line.as_bytes()).unwrap();
        self.written.push(line);
    }

    /// Reopens the path (after a rename-style rotation).
    pub fn reopen(&mut self) {
        self.file = open_append(&self.path);
    }

    pub fn switch_to(&mut self, path: &Path) {
        self.path = path.to_owned();
        self.reopen();
    }
}

/// Truncates the file in place, as copytruncate does after its copy.
pub fn truncate(path: &Path) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(0)
        .unwrap();
}

pub fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// Asserts every written line was received exactly once.
pub fn assert_exactly_once(written: &[String], received: &[String]) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in received {
        *counts.entry(r.as_str()).or_default() += 1;
    }
    let dups: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(dups.is_empty(), "duplicates: {dups:?}");
    let missing: Vec<_> = written
        .iter()
        .filter(|w| !counts.contains_key(w.as_str()))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "missing {} lines, e.g. {missing:?}",
        written
            .iter()
            .filter(|w| !counts.contains_key(w.as_str()))
            .count()
    );
    assert_eq!(received.len(), written.len());
}

pub fn logrotate() -> Option<PathBuf> {
    [
        "/usr/sbin/logrotate",
        "/usr/bin/logrotate",
        "/sbin/logrotate",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Runs `logrotate -f -s <state> <conf>` with `conf_body`; false (with a notice) if
/// logrotate is not installed.
pub fn run_logrotate(dir: &Path, conf_body: &str) -> bool {
    let Some(bin) = logrotate() else {
        let _ = firetail_testkit::unavailable(
            "a logrotate rotation",
            "logrotate is not installed (apt-get install logrotate)",
        );
        return false;
    };
    let conf = dir.join("logrotate.conf");
    std::fs::write(&conf, conf_body).unwrap();
    let out = std::process::Command::new(bin)
        .arg("-f")
        .arg("-s")
        .arg(dir.join("logrotate.state"))
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "logrotate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}
