//! The real `firetail` binary under test: started as a child process from a generated
//! `agent.json`, stopped with SIGTERM or SIGKILL, restarted with the same configuration.
//!
//! Also here, because every end-to-end test needs them:
//! - [`LineWriter`]: appends unique, numbered, fixed-length lines to a log file and
//!   rotates it (rename + create, or copytruncate), like a web server under logrotate.
//! - [`tally`]: the multiset comparison of lines written against lines delivered
//!   (missing must be 0; duplicates are counted, not forbidden).
//! - [`LocalRig::finish_run`] and [`RunEnd`]: the end of a delivery test (every line
//!   delivered, the daemon stopped, the tally), and [`endpoint_quiet`] after a kill.
//! - [`read_checkpoints`], [`http_get`], [`scrape`]: the daemon's checkpoint file and
//!   its metrics/health endpoint, read the way an operator would.
//!
//! Each start writes the child's stderr to its own file (`daemon-<n>.stderr` in the
//! test's directory) so assertions can read it and a failure can show it. A [`Daemon`]
//! that is dropped while its child runs kills the child (SIGKILL), so no daemon outlives
//! a failed test.

#![allow(dead_code)] // each test uses its own subset

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

/// Every line a [`LineWriter`] writes is exactly this long, newline included, so a file
/// offset maps to a line count.
pub const LINE_LEN: usize = 64;

/// The `agent.json` globals every end-to-end test wants: checkpoints in `dir`, static
/// dummy credentials (no credential chain, no IMDS), no CloudWatch, no metrics endpoint,
/// quick checkpoints and a short shutdown. Tests add `flows` and override keys.
pub fn agent_config(dir: &Path) -> Value {
    json!({
        "checkpointFile": dir.join("checkpoints.json"),
        "awsAccessKeyId": "e2e",
        "awsSecretAccessKey": "e2e",
        "firetail.region": "us-east-1",
        "cloudwatch.emitMetrics": false,
        "firetail.metrics.listen": "",
        "firetail.checkpointIntervalMillis": 100,
        "shutdownTimeoutMillis": 3000,
        "flows": []
    })
}

/// A Firehose flow over `pattern` with small buffers and short backoffs, reading files
/// from their start (lines written while the daemon was down must not be skipped).
pub fn firehose_flow(pattern: &Path, stream: &str) -> Value {
    let mut flow = quick_flow(pattern);
    flow["deliveryStream"] = json!(stream);
    flow
}

/// A Kinesis Data Streams flow, otherwise like [`firehose_flow`].
pub fn kinesis_flow(pattern: &Path, stream: &str) -> Value {
    let mut flow = quick_flow(pattern);
    flow["kinesisStream"] = json!(stream);
    flow
}

/// A CloudWatch Logs flow to `group`/`stream`, otherwise like [`firehose_flow`].
pub fn logs_flow(pattern: &Path, group: &str, stream: &str) -> Value {
    let mut flow = quick_flow(pattern);
    flow["firetail.logGroup"] = json!(group);
    flow["firetail.logStream"] = json!(stream);
    flow
}

fn quick_flow(pattern: &Path) -> Value {
    json!({
        "filePattern": pattern,
        "initialPosition": "START_OF_FILE",
        "maxBufferAgeMillis": 1000,
        "retryInitialBackoffMillis": 50,
        "retryMaxBackoffMillis": 500,
        "firetail.reconcileIntervalMillis": 100
    })
}

/// One daemon: a configuration file and at most one running child at a time.
pub struct Daemon {
    dir: PathBuf,
    config_path: PathBuf,
    checkpoint_path: PathBuf,
    child: Option<Child>,
    /// stderr files of every start, oldest first.
    logs: Vec<PathBuf>,
    /// Runs the daemon through this command and its arguments (e.g. `setpriv ...`).
    wrapper: Vec<String>,
    /// Extra environment of every start.
    env: Vec<(String, String)>,
}

impl Daemon {
    /// Writes `config` to `<dir>/agent.json` and starts the daemon on it.
    pub fn start(dir: &Path, config: &Value) -> Daemon {
        Daemon::launch(dir, config, &[], &[])
    }

    /// [`Daemon::start`], running the daemon through `wrapper` (a command and its
    /// arguments, the daemon's command line appended).
    pub fn start_wrapped(dir: &Path, config: &Value, wrapper: &[&str]) -> Daemon {
        Daemon::launch(dir, config, wrapper, &[])
    }

    /// [`Daemon::start`] with extra environment variables (kept for restarts; see
    /// [`Daemon::set_env`]). An empty value removes the variable instead.
    pub fn start_with_env(dir: &Path, config: &Value, env: &[(&str, &str)]) -> Daemon {
        Daemon::launch(dir, config, &[], env)
    }

    fn launch(dir: &Path, config: &Value, wrapper: &[&str], env: &[(&str, &str)]) -> Daemon {
        let config_path = dir.join("agent.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(config).unwrap())
            .expect("write agent.json");
        let checkpoint_path = config["checkpointFile"]
            .as_str()
            .map(PathBuf::from)
            .expect("the configuration names its checkpointFile");
        let mut d = Daemon {
            dir: dir.to_path_buf(),
            config_path,
            checkpoint_path,
            child: None,
            logs: Vec::new(),
            wrapper: wrapper.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        d.restart();
        let flows = config["flows"].as_array().map_or(0, Vec::len);
        d.wait_for_first_scans(flows);
        d
    }

    /// Blocks until each of `flows` flows logged its first scan (or 20 s passed). A flow's
    /// first start counts files already rotated as read (as the Kinesis Agent does), so a
    /// test that rotates right after starting must let the first scan happen first.
    fn wait_for_first_scans(&mut self, flows: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let scans = self
                .current_log()
                .lines()
                .filter(|l| l.contains("first scan: "))
                .count();
            let exited = self
                .child
                .as_mut()
                .is_none_or(|c| c.try_wait().ok().flatten().is_some());
            if scans >= flows || exited {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Replaces the extra environment of the next starts.
    pub fn set_env(&mut self, env: &[(&str, &str)]) {
        self.env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    }

    /// The running child's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Starts the daemon again with the same configuration. It must not be running.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the daemon is still running");
        let log = self.dir.join(format!("daemon-{}.stderr", self.logs.len()));
        let stderr = File::create(&log).expect("create the stderr file");
        let level = std::env::var("FIRETAIL_E2E_LOG").unwrap_or_else(|_| "info".into());
        let mut command = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_firetail"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_firetail")),
        };
        for (k, v) in &self.env {
            if v.is_empty() {
                command.env_remove(k);
            } else {
                command.env(k, v);
            }
        }
        let child = command
            .arg("--log-level")
            .arg(level)
            .arg("run")
            .arg("-c")
            .arg(&self.config_path)
            .env_remove("RUST_LOG")
            .env_remove("FIRETAIL_LOG_LEVEL")
            .env_remove("AWS_PROFILE")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn firetail");
        self.logs.push(log);
        self.child = Some(child);
    }

    /// How many times the daemon was started.
    pub fn starts(&self) -> usize {
        self.logs.len()
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().expect("try_wait").is_none(),
            None => false,
        }
    }

    /// Sends SIGTERM (the ordered shutdown), without waiting.
    pub fn sigterm(&self) {
        let child = self.child.as_ref().expect("the daemon is not running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits up to `timeout` for the child to exit; `None` if it is still running.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut().expect("the daemon is not running");
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then waits up to `timeout` for the exit; panics (with the log) if the
    /// daemon does not stop in time. Returns the exit status and how long it took.
    pub async fn stop(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        self.sigterm();
        match self.wait_exit(timeout).await {
            Some(status) => (status, started.elapsed()),
            None => {
                self.kill9();
                panic!(
                    "the daemon did not exit within {timeout:?} of SIGTERM\n{}",
                    self.log_tail(40)
                );
            }
        }
    }

    /// SIGKILL, and reaps the child.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // std's kill() is SIGKILL on Unix.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Everything the daemon logged, over every start.
    pub fn log(&self) -> String {
        let mut out = String::new();
        for (i, path) in self.logs.iter().enumerate() {
            out.push_str(&format!("----- start {i} -----\n"));
            out.push_str(&String::from_utf8_lossy(
                &std::fs::read(path).unwrap_or_default(),
            ));
        }
        out
    }

    /// What the current (or last) start logged.
    pub fn current_log(&self) -> String {
        self.logs
            .last()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned())
            .unwrap_or_default()
    }

    /// The last `n` lines of the whole log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Waits until a line of the current start's log satisfies `pred`; returns it.
    pub async fn wait_for_log(
        &self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.current_log().lines().find(|l| pred(l)) {
                return Some(line.to_string());
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The address of the metrics endpoint, from the startup log line (the tests bind
    /// port 0, so the kernel picks a free port and the daemon reports it).
    pub async fn metrics_addr(&self, timeout: Duration) -> SocketAddr {
        let line = self
            .wait_for_log(timeout, |l| l.contains("metrics and health on http://"))
            .await
            .unwrap_or_else(|| panic!("no metrics address logged\n{}", self.log_tail(30)));
        let rest = &line[line.find("http://").unwrap() + "http://".len()..];
        let addr = rest.split('/').next().unwrap();
        addr.parse().expect("metrics address")
    }

    /// The checkpoint file as it is on disk now (empty if it was never written).
    pub fn checkpoints(&self) -> Vec<CheckpointEntry> {
        read_checkpoints(&self.checkpoint_path)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One entry of the checkpoint file (the fields the tests look at).
#[derive(Clone, Debug, Deserialize)]
pub struct CheckpointEntry {
    pub flow: String,
    pub dev: u64,
    pub inode: u64,
    pub path: String,
    pub offset: u64,
}

#[derive(Deserialize)]
struct CheckpointFile {
    checkpoints: Vec<CheckpointEntry>,
}

/// Reads a checkpoint file; a missing file has no entries.
pub fn read_checkpoints(path: &Path) -> Vec<CheckpointEntry> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice::<CheckpointFile>(&bytes)
                .unwrap_or_else(|e| {
                    panic!(
                        "checkpoint file {} unreadable: {e}: {}",
                        path.display(),
                        String::from_utf8_lossy(&bytes)
                    )
                })
                .checkpoints
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("reading {}: {e}", path.display()),
    }
}

/// The text of line `n` of a writer with `prefix`: `<prefix>-<n> xxx…\n`, [`LINE_LEN`]
/// bytes.
pub fn line_text(prefix: &str, n: u64) -> String {
    let mut line = format!("{prefix}-{n:09} ");
    assert!(line.len() < LINE_LEN, "prefix too long");
    while line.len() < LINE_LEN - 1 {
        line.push('x');
    }
    line.push('\n');
    line
}

/// How a [`LineWriter`] rotates its file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// Rename the file to `<name>.<k>` and create a new one (logrotate's default).
    Rename,
    /// Copy the file to `<name>.<k>` and truncate it in place (logrotate's copytruncate).
    CopyTruncate,
}

/// Appends numbered lines to one log file and rotates it.
pub struct LineWriter {
    path: PathBuf,
    prefix: String,
    file: File,
    next: u64,
    rotations: u64,
    /// Inodes this writer truncated (copytruncate): their content changed in place.
    truncated: HashSet<u64>,
}

impl LineWriter {
    /// Creates (or appends to) `path`; lines read `<prefix>-<n> …`.
    pub fn new(path: &Path, prefix: &str) -> LineWriter {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create the log directory");
        }
        LineWriter {
            path: path.to_path_buf(),
            prefix: prefix.to_string(),
            file: open_append(path),
            next: 0,
            rotations: 0,
            truncated: HashSet::new(),
        }
    }

    /// Appends the next `n` lines in one write.
    pub fn write_lines(&mut self, n: u64) {
        let mut buf = String::with_capacity(n as usize * LINE_LEN);
        for i in self.next..self.next + n {
            buf.push_str(&line_text(&self.prefix, i));
        }
        self.file.write_all(buf.as_bytes()).expect("write lines");
        self.next += n;
    }

    /// Rotates the file; the rotated name is `<name>.<k>`, k counting up from 1.
    pub fn rotate(&mut self, how: Rotation) {
        self.rotations += 1;
        let rotated = PathBuf::from(format!("{}.{}", self.path.display(), self.rotations));
        match how {
            Rotation::Rename => {
                std::fs::rename(&self.path, &rotated).expect("rename for rotation");
                self.file = open_append(&self.path);
            }
            Rotation::CopyTruncate => {
                copy_in_chunks(&self.path, &rotated);
                let inode = self.file.metadata().expect("stat").ino();
                self.truncated.insert(inode);
                self.file.set_len(0).expect("truncate");
            }
        }
    }

    /// Lines written so far.
    pub fn written(&self) -> u64 {
        self.next
    }

    pub fn rotations(&self) -> u64 {
        self.rotations
    }

    /// Every line written so far, in order.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        (0..self.next).map(|n| line_text(&self.prefix, n))
    }

    /// Inodes whose content was truncated in place at least once.
    pub fn truncated_inodes(&self) -> &HashSet<u64> {
        &self.truncated
    }
}

/// Copies like logrotate does (read and write a buffer at a time, not one in-kernel
/// copy), so a watcher sees the copy grow.
fn copy_in_chunks(from: &Path, to: &Path) {
    let mut src = File::open(from).expect("open for copy");
    let mut dst = File::create(to).expect("create the copy");
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = src.read(&mut buf).expect("read for copy");
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n]).expect("write the copy");
    }
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Written lines against delivered lines, as multisets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub written: u64,
    pub delivered: u64,
    /// Written, never delivered. Must be 0.
    pub missing: u64,
    /// Extra copies of written lines.
    pub duplicates: u64,
    /// Delivered lines nobody wrote (torn, merged or corrupted lines). Must be 0.
    pub unexpected: u64,
    /// Up to 5 examples of missing lines, for the failure message.
    pub missing_examples: Vec<String>,
    /// Up to 5 examples of unexpected lines.
    pub unexpected_examples: Vec<String>,
}

impl Tally {
    pub fn is_complete(&self) -> bool {
        self.missing == 0 && self.unexpected == 0
    }
}

/// Compares lines written with the delivered data (records or objects: anything that is
/// a concatenation of whole lines). A delivered chunk not ending in `\n` counts its tail
/// as unexpected.
pub fn tally<'a>(
    written: impl IntoIterator<Item = String>,
    delivered: impl IntoIterator<Item = &'a [u8]>,
) -> Tally {
    let mut counts: HashMap<Vec<u8>, i64> = HashMap::new();
    let mut t = Tally::default();
    for line in written {
        t.written += 1;
        *counts.entry(line.into_bytes()).or_default() += 1;
    }
    for chunk in delivered {
        for line in chunk.split_inclusive(|b| *b == b'\n') {
            t.delivered += 1;
            match counts.get_mut(line) {
                Some(n) => *n -= 1,
                None => {
                    t.unexpected += 1;
                    if t.unexpected_examples.len() < 5 {
                        t.unexpected_examples
                            .push(String::from_utf8_lossy(line).into_owned());
                    }
                }
            }
        }
    }
    let mut missing: Vec<&Vec<u8>> = Vec::new();
    for (line, n) in &counts {
        if *n > 0 {
            t.missing += *n as u64;
            missing.push(line);
        } else {
            t.duplicates += n.unsigned_abs();
        }
    }
    missing.sort();
    t.missing_examples = missing
        .iter()
        .take(5)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    t
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes; returns whether it held.
pub async fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A minimal HTTP/1.1 GET: (status code, body).
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut reader = BufReader::new(s);
    let mut status = String::new();
    reader.read_line(&mut status)?;
    let code = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status:?}")))?;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let h = header.trim_end();
        if h.is_empty() {
            break;
        }
        if h.to_ascii_lowercase().starts_with("transfer-encoding:") && h.contains("chunked") {
            chunked = true;
        }
    }
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw)?;
    let body = if chunked { dechunk(&raw) } else { raw };
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&raw[..eol])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&raw[start..(start + size).min(raw.len())]);
        raw = &raw[(start + size + 2).min(raw.len())..];
    }
    out
}

/// One scrape of `/metrics`: the sum of every sample of each metric name (over all
/// label sets), e.g. `firetail_records_failed_total` summed over its `code` labels.
pub fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let (code, body) = http_get(addr, "/metrics").expect("GET /metrics");
    assert_eq!(code, 200, "/metrics answered {code}: {body}");
    parse_prometheus(&body)
}

/// Sums samples by metric name in the Prometheus text format.
pub fn parse_prometheus(body: &str) -> HashMap<String, f64> {
    let mut out: HashMap<String, f64> = HashMap::new();
    for line in body.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series).trim();
        if let Ok(v) = value.trim().parse::<f64>() {
            *out.entry(name.to_string()).or_default() += v;
        }
    }
    out
}

/// The file under `dir` (recursively) with inode `inode`, if any.
///
/// Writers may still be rotating while this walks: a name listed a moment ago can be
/// renamed away before it is looked at (and the inode land on a name already passed), so
/// an entry that vanished is skipped, not the end of the search, and a miss is retried.
pub fn find_inode(dir: &Path, inode: u64) -> Option<PathBuf> {
    (0..5).find_map(|attempt| {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        find_inode_once(dir, inode)
    })
}

fn find_inode_once(dir: &Path, inode: u64) -> Option<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.ino() == inode {
                return Some(path);
            }
        }
    }
    None
}

/// The lines in the first `offset` bytes of `path` (the lines a checkpoint at `offset`
/// claims were delivered). `Err` with the file size when the file is shorter.
pub fn lines_before(path: &Path, offset: u64) -> Result<Vec<Vec<u8>>, u64> {
    let data = std::fs::read(path).unwrap_or_default();
    if (data.len() as u64) < offset {
        return Err(data.len() as u64);
    }
    Ok(data[..offset as usize]
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect())
}

/// Checks every entry of a checkpoint file saved right after kill number `kill` against
/// the lines the endpoint had accepted: a checkpoint must cover only accepted lines (each
/// breach is pushed to `violations`). Returns the lines the checkpoints cover. Entries for
/// files truncated in place (`truncated_in_place`) are skipped: their bytes are gone.
pub fn audit_checkpoints(
    kill: usize,
    checkpoints: &[CheckpointEntry],
    logs: &Path,
    accepted: &HashSet<Vec<u8>>,
    truncated_in_place: impl Fn(u64) -> bool,
    violations: &mut Vec<String>,
) -> HashSet<Vec<u8>> {
    let mut covered = HashSet::new();
    for entry in checkpoints {
        if entry.offset == 0 || truncated_in_place(entry.inode) {
            continue;
        }
        let Some(path) = find_inode(logs, entry.inode) else {
            violations.push(format!(
                "kill {kill}: checkpoint for inode {} ({}) but no such file",
                entry.inode, entry.path
            ));
            continue;
        };
        match lines_before(&path, entry.offset) {
            Ok(lines) => {
                for line in lines {
                    if !accepted.contains(&line) {
                        violations.push(format!(
                            "kill {kill}: {} offset {} covers {:?}, which the endpoint never accepted",
                            path.display(),
                            entry.offset,
                            String::from_utf8_lossy(&line)
                        ));
                    }
                    covered.insert(line);
                }
            }
            Err(size) => violations.push(format!(
                "kill {kill}: {} checkpointed at {} but only {size} bytes long",
                path.display(),
                entry.offset
            )),
        }
    }
    covered
}

/// Every line in the records an endpoint accepted for `stream` (a record may hold several).
pub fn accepted_lines(server: &firetail_local_firehose::Server, stream: &str) -> HashSet<Vec<u8>> {
    server
        .delivered(stream)
        .iter()
        .flat_map(|r| r.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec))
        .collect()
}

/// The usual end-to-end set-up: a temporary directory holding an in-process local
/// Firehose (objects under `s3/`) and a `logs/` directory, and an `agent.json` for it.
pub struct LocalRig {
    pub tmp: tempfile::TempDir,
    pub server: firetail_local_firehose::Server,
    pub logs: PathBuf,
}

impl LocalRig {
    /// Starts the endpoint with `options` (its `dir` is set here).
    pub async fn start(options: firetail_local_firehose::Options) -> LocalRig {
        let tmp = tempfile::tempdir().unwrap();
        let server = firetail_local_firehose::start(firetail_local_firehose::Options {
            dir: tmp.path().join("s3"),
            ..options
        })
        .await
        .unwrap();
        let logs = tmp.path().join("logs");
        LocalRig { tmp, server, logs }
    }

    /// Starts an endpoint that creates streams on first use and injects no faults.
    pub async fn auto_create() -> LocalRig {
        LocalRig::start(firetail_local_firehose::Options {
            auto_create: true,
            ..Default::default()
        })
        .await
    }

    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// A writer of `logs/access.log` whose lines start with `prefix`.
    pub fn writer(&self, prefix: &str) -> LineWriter {
        LineWriter::new(&self.logs.join("access.log"), prefix)
    }

    /// [`firehose_flow`] over `logs/access.log*`.
    pub fn flow(&self, stream: &str) -> Value {
        firehose_flow(&self.logs.join("access.log*"), stream)
    }

    /// [`agent_config`] pointed at this endpoint, with `flows`.
    pub fn config(&self, flows: Vec<Value>) -> Value {
        let mut cfg = agent_config(self.dir());
        cfg["firehose.endpoint"] = json!(self.server.endpoint_url());
        cfg["flows"] = Value::Array(flows);
        cfg
    }

    /// Lines written against lines the endpoint holds for `stream`.
    pub fn tally(&self, writer: &LineWriter, stream: &str) -> Tally {
        let delivered = self.server.delivered(stream);
        tally(writer.lines(), delivered.iter().map(|b| b.as_ref()))
    }

    /// Waits (up to `timeout`) until every line `writer` wrote is at `stream`, stops the
    /// daemon, and tallies what the endpoint holds then (records sent while stopping
    /// count, duplicates among them too).
    pub async fn finish_run(
        &self,
        writer: &LineWriter,
        stream: &str,
        daemon: &mut Daemon,
        timeout: Duration,
    ) -> RunEnd {
        let all_delivered = eventually(timeout, || self.tally(writer, stream).missing == 0).await;
        let (status, _) = daemon.stop(Duration::from_secs(10)).await;
        RunEnd {
            all_delivered,
            status,
            tally: self.tally(writer, stream),
        }
    }
}

/// How a delivery test's run ended ([`LocalRig::finish_run`]).
pub struct RunEnd {
    /// Every written line reached the endpoint before the timeout.
    pub all_delivered: bool,
    pub status: ExitStatus,
    /// After the stop.
    pub tally: Tally,
}

impl RunEnd {
    /// Every line delivered, none torn or unknown, and the daemon exited cleanly.
    pub fn assert_complete(&self, daemon: &Daemon) {
        assert!(
            self.all_delivered && self.tally.is_complete(),
            "{:?}\n{}",
            self.tally,
            daemon.log_tail(60)
        );
        assert!(
            self.status.success(),
            "exit {}\n{}",
            self.status,
            daemon.log_tail(40)
        );
    }
}

/// Waits until the endpoint's counters stop moving (after a kill -9). Nothing counts a
/// request still in its injected latency, so a quiet spell longer than that latency is
/// what shows that every request it received in full has been answered.
pub async fn endpoint_quiet(server: &firetail_local_firehose::Server) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = server.stats();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = server.stats();
        if now == last || Instant::now() > deadline {
            return;
        }
        last = now;
    }
}

/// A `/proc/<pid>/status` figure in bytes (`VmRSS:`, `VmHWM:`, ...).
pub fn proc_status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The bound on a daemon's memory the architecture promises (ARCHITECTURE.md, invariant
/// 2), above what it holds idle: `k` times the flows' in-flight budgets plus a small cost
/// per tracked file. Tests compare peak RSS minus idle RSS against it, so the figure holds
/// for a debug build as for the release binary (whose idle RSS BENCHMARKS.md gives).
pub struct MemoryBound {
    pub in_flight_budget: u64,
    pub files: u64,
}

impl MemoryBound {
    /// Bytes of RSS per byte of in-flight budget: the bytes read (records share their read
    /// buffers), their request bodies (base64 in JSON, 1.37x), the per-record structures
    /// on the way (about 200 bytes a record: most of it for 100-byte lines, which measure
    /// 7x) and the allocator's slack.
    pub const PER_BUDGET_BYTE: u64 = 8;
    /// Bytes of RSS per tracked file: its state and checkpoint entry; a quiet file holds
    /// no read buffer.
    pub const PER_FILE: u64 = 4 * 1024;

    pub fn bytes(&self) -> u64 {
        Self::PER_BUDGET_BYTE * self.in_flight_budget + Self::PER_FILE * self.files
    }
}
