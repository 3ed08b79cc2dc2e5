//! Hostile inputs through the real daemon: one flow per bad input next to one healthy flow.
//!
//! For a regular file, whatever its bytes, "correct" means the framing rules: every line
//! arrives as one record, byte for byte (binary, invalid UTF-8 and NUL runs included), and a
//! line over the Firehose record limit (1 024 000 bytes) arrives as one truncated record
//! ending in the terminator, the rest of it discarded. For things that are not regular files
//! (FIFO, device, symlink loop, a file replaced by a directory) "correct" means they are
//! skipped: nothing from them is sent, the flow's regular file beside them still ships, and
//! nothing blocks. Throughout, the daemon must not panic and the healthy flow must receive
//! every line.
//!
//! Bad configurations go through `firetail check-config` and `firetail run`: exit code 1,
//! a message naming the file (and the key, where there is one), no panic.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use bytes::Bytes;
use firetail_local_firehose::Options;
use serde_json::json;

use crate::support::daemon::{agent_config, eventually, firehose_flow, tally, Daemon, LineWriter};
use crate::support::fs::{fill, SmallTmpfs};

/// Firehose's record limit; longer lines are cut to it.
const MAX_RECORD: usize = 1_024_000;
const HEALTHY: &str = "h-healthy";

/// The bytes of `n` pseudo-random bytes (xorshift, seeded), ending with a newline.
fn binary_blob(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out: Vec<u8> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    out.push(b'\n');
    out
}

fn invalid_utf8() -> Vec<u8> {
    let mut v = Vec::new();
    for line in [
        &b"\xff\xfe lone bytes"[..],
        b"\xc3\x28 bad continuation",
        b"\xed\xa0\x80 encoded surrogate",
        b"\xf8\x88\x80\x80\x80 five-byte form",
        b"\xc0\xaf overlong slash",
        b"\xe2\x82 truncated sequence",
        b"crlf\r",
        b"",
        b"\x1b[31mansi escape\x1b[0m",
    ] {
        v.extend_from_slice(line);
        v.push(b'\n');
    }
    v
}

fn nul_runs() -> Vec<u8> {
    let mut v = Vec::new();
    for n in [1usize, 7, 4096, 65_536, 900_000] {
        v.extend(std::iter::repeat_n(0u8, n));
        v.push(b'\n');
        v.extend_from_slice(format!("text after {n} NULs\n").as_bytes());
    }
    v
}

/// Lines of `data` as records (each ends with `\n`), sorted, for a multiset comparison.
fn sorted_lines(data: &[u8]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = data
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    v.sort();
    v
}

fn sorted_records(records: &[Bytes]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = records.iter().map(|r| r.to_vec()).collect();
    v.sort();
    v
}

/// The flows of the hostile run: one directory (and stream) per input.
struct Corpus {
    root: PathBuf,
    flows: Vec<serde_json::Value>,
    /// Regular hostile files whose every line must arrive: stream -> expected bytes.
    exact: BTreeMap<String, Vec<u8>>,
    /// Streams that must receive exactly the lines of their `ok.log`.
    beside: BTreeMap<String, Vec<u8>>,
    notices: Vec<String>,
    _tmpfs: Option<SmallTmpfs>,
}

impl Corpus {
    fn dir(&mut self, name: &str) -> PathBuf {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut flow = firehose_flow(&dir.join("*"), &format!("h-{name}"));
        flow["firetail.maxRequestsInFlight"] = json!(1);
        self.flows.push(flow);
        dir
    }

    fn exact_file(&mut self, name: &str, content: Vec<u8>) {
        let dir = self.dir(name);
        std::fs::write(dir.join("hostile.log"), &content).unwrap();
        self.exact.insert(format!("h-{name}"), content);
    }

    /// A regular `ok.log` beside the hostile entry, whose lines must arrive.
    fn ok_beside(&mut self, name: &str, dir: &Path) {
        let ok = format!("{name}: the regular file beside it\n{name}: second line\n");
        std::fs::write(dir.join("ok.log"), &ok).unwrap();
        self.beside.insert(format!("h-{name}"), ok.into_bytes());
    }
}

fn build_corpus(root: &Path) -> Corpus {
    let mut c = Corpus {
        root: root.to_path_buf(),
        flows: Vec::new(),
        exact: BTreeMap::new(),
        beside: BTreeMap::new(),
        notices: Vec::new(),
        _tmpfs: None,
    };
    c.exact_file("binary", binary_blob(256 << 10));
    c.exact_file("utf8", invalid_utf8());
    c.exact_file("nul", nul_runs());

    let long = c.dir("long");
    {
        let mut f = std::fs::File::create(long.join("hostile.log")).unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..50 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\nafter the 50 MiB line\n").unwrap();
    }
    let sparse = c.dir("sparse");
    {
        // A 10 MiB hole (reads as NULs) then text: one 10 MiB line, then a short one.
        let mut f = std::fs::File::create(sparse.join("hostile.log")).unwrap();
        f.set_len(10 << 20).unwrap();
        f.flush().unwrap();
        drop(f);
        let mut f = OpenOptions::new()
            .append(true)
            .open(sparse.join("hostile.log"))
            .unwrap();
        f.write_all(b"end of the hole\nafter the sparse line\n")
            .unwrap();
    }

    let fifo = c.dir("fifo");
    let made = Command::new("mkfifo")
        .arg(fifo.join("pipe.log"))
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo failed");
    // A character device that never ends, if this container lets us make one.
    let dev = Command::new("mknod")
        .arg(fifo.join("zero.log"))
        .args(["c", "1", "5"])
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !dev
        && firetail_testkit::unavailable("hostile: a never-ending device", "mknod is not permitted")
    {
        c.notices
            .push("mknod not permitted: the device case left out".into());
    }
    c.ok_beside("fifo", &fifo);

    let links = c.dir("symlinks");
    std::os::unix::fs::symlink(links.join("loop-b.log"), links.join("loop-a.log")).unwrap();
    std::os::unix::fs::symlink(links.join("loop-a.log"), links.join("loop-b.log")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/firetail", links.join("dangling.log")).unwrap();
    std::os::unix::fs::symlink(&links, links.join("self-dir.log")).unwrap();
    c.ok_beside("symlinks", &links);

    let replaced = c.dir("replaced");
    std::fs::write(
        replaced.join("victim.log"),
        b"victim line 1\nvictim line 2\n",
    )
    .unwrap();
    c.ok_beside("replaced", &replaced);

    // Unreadable even as root: the daemon then runs without the capabilities that let
    // root ignore file modes (see `daemon_without_dac_override`).
    let unreadable = c.dir("unreadable");
    let p = unreadable.join("secret.log");
    std::fs::write(&p, b"you cannot read me\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    c.ok_beside("unreadable", &unreadable);

    let full_dir = root.join("full-mount");
    match SmallTmpfs::mount(&full_dir, "1m") {
        Some(fs) => {
            let name = "full";
            let dir = full_dir.clone();
            let mut flow = firehose_flow(&dir.join("*.log"), &format!("h-{name}"));
            flow["firetail.maxRequestsInFlight"] = json!(1);
            c.flows.push(flow);
            c.ok_beside(name, &dir);
            fill(&dir).unwrap();
            let more = OpenOptions::new()
                .append(true)
                .open(dir.join("ok.log"))
                .and_then(|mut f| f.write_all(&[b'x'; 8192]));
            assert!(more.is_err(), "the tmpfs should be full");
            c._tmpfs = Some(fs);
        }
        None => {
            if firetail_testkit::unavailable(
                "hostile: a full file system",
                "cannot mount a 1 MiB tmpfs (needs root)",
            ) {
                c.notices.push("the full file system case left out".into());
            }
        }
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_files_are_framed_or_skipped_and_the_healthy_flow_never_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let server = firetail_local_firehose::start(Options {
        dir: tmp.path().join("s3"),
        auto_create: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut corpus = build_corpus(&tmp.path().join("h"));
    for n in &corpus.notices {
        eprintln!("hostile: notice: {n}");
    }
    let healthy_log = tmp.path().join("healthy/access.log");
    let mut healthy = LineWriter::new(&healthy_log, "healthy");
    healthy.write_lines(100);
    let mut flows = vec![firehose_flow(&healthy_log, HEALTHY)];
    flows.append(&mut corpus.flows);
    let mut cfg = agent_config(tmp.path());
    cfg["firehose.endpoint"] = json!(server.endpoint_url());
    cfg["flows"] = json!(flows);
    let mut daemon = daemon_without_dac_override(tmp.path(), &cfg);

    // Phase 1: everything present at start.
    let long_done = eventually(Duration::from_secs(90), || {
        server.delivered("h-long").len() >= 2 && server.delivered("h-sparse").len() >= 2
    })
    .await;
    assert!(long_done, "long lines not shipped\n{}", daemon.log_tail(40));

    // Phase 2: the victim file becomes a directory while the daemon runs.
    let replaced = corpus.root.join("replaced");
    let victim_done = eventually(Duration::from_secs(30), || {
        server.delivered("h-replaced").len() >= 4
    })
    .await;
    assert!(
        victim_done,
        "victim lines not shipped\n{}",
        daemon.log_tail(40)
    );
    std::fs::remove_file(replaced.join("victim.log")).unwrap();
    std::fs::create_dir(replaced.join("victim.log")).unwrap();
    std::fs::write(replaced.join("victim.log/inside.log"), b"not matched\n").unwrap();
    let after = b"replaced: written after the swap\n";
    OpenOptions::new()
        .append(true)
        .open(replaced.join("ok.log"))
        .unwrap()
        .write_all(after)
        .unwrap();
    healthy.write_lines(100);

    let expected_replaced = {
        let mut v = corpus.beside["h-replaced"].clone();
        v.extend_from_slice(b"victim line 1\nvictim line 2\n");
        v.extend_from_slice(after);
        v
    };
    corpus
        .beside
        .insert("h-replaced".into(), expected_replaced.clone());

    let all_there = eventually(Duration::from_secs(60), || {
        let h = server.delivered(HEALTHY);
        let healthy_ok = tally(healthy.lines(), h.iter().map(|b| b.as_ref())).missing == 0;
        let exact_ok = corpus
            .exact
            .iter()
            .all(|(s, want)| sorted_records(&server.delivered(s)) == sorted_lines(want));
        let beside_ok = corpus
            .beside
            .iter()
            .all(|(s, want)| server.delivered(s).len() >= sorted_lines(want).len());
        healthy_ok && exact_ok && beside_ok
    })
    .await;
    // Give a runaway reader (a device, a FIFO) time to show itself.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let running = daemon.is_running();
    let log = daemon.log();
    let (status, _) = if running {
        daemon.stop(Duration::from_secs(15)).await
    } else {
        panic!("the daemon died\n{}", daemon.log_tail(60));
    };

    let mut failures = Vec::new();
    // The unreadable file is reported, by name and cause, not passed over in silence.
    if !log
        .lines()
        .any(|l| l.contains("secret.log") && l.to_ascii_lowercase().contains("permission denied"))
    {
        failures.push("no log line names the unreadable secret.log and why".to_owned());
    }
    let h = server.delivered(HEALTHY);
    let t = tally(healthy.lines(), h.iter().map(|b| b.as_ref()));
    if !t.is_complete() {
        failures.push(format!("healthy flow: {t:?}"));
    }
    for (stream, want) in &corpus.exact {
        let got = sorted_records(&server.delivered(stream));
        if got != sorted_lines(want) {
            failures.push(format!(
                "{stream}: {} records ({} bytes) delivered, want {} lines ({} bytes)",
                got.len(),
                got.iter().map(Vec::len).sum::<usize>(),
                sorted_lines(want).len(),
                want.len()
            ));
        }
    }
    for (stream, want) in &corpus.beside {
        let got = sorted_records(&server.delivered(stream));
        if got != sorted_lines(want) {
            failures.push(format!(
                "{stream}: got {:?}, want {:?}",
                got.iter()
                    .take(6)
                    .map(|r| String::from_utf8_lossy(&r[..r.len().min(60)]).into_owned())
                    .collect::<Vec<_>>(),
                String::from_utf8_lossy(want)
            ));
        }
    }
    for (stream, after) in [
        ("h-long", &b"after the 50 MiB line\n"[..]),
        ("h-sparse", b"after the sparse line\n"),
    ] {
        let got = server.delivered(stream);
        let fill = if stream == "h-long" { b'a' } else { 0 };
        let ok = got.len() == 2
            && got.iter().any(|r| r.as_ref() == after)
            && got.iter().any(|r| {
                r.len() == MAX_RECORD
                    && r.ends_with(b"\n")
                    && r[..MAX_RECORD - 1].iter().all(|b| *b == fill)
            });
        if !ok {
            failures.push(format!(
                "{stream}: want one truncated {MAX_RECORD}-byte record and {:?}; got lengths {:?}",
                String::from_utf8_lossy(after),
                got.iter().map(|r| r.len()).collect::<Vec<_>>()
            ));
        }
    }
    if log.contains("panicked") {
        failures.push("the daemon panicked".into());
    }
    if !status.success() {
        failures.push(format!("exit status {status}"));
    }
    assert!(
        all_there && failures.is_empty(),
        "all_there={all_there}\n{}\n--- daemon log (tail) ---\n{}",
        failures.join("\n"),
        log.lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn firetail(args: &[&str], config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_firetail"))
        .args(args)
        .arg("-c")
        .arg(config)
        .env_remove("RUST_LOG")
        .env_remove("FIRETAIL_CONFIG")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap()
}

/// (name, file bytes, substrings the error must contain besides the file name).
fn bad_configs() -> Vec<(&'static str, Vec<u8>, Vec<&'static str>)> {
    let flow = |extra: &str| {
        format!(
            r#"{{"flows": [{{"filePattern": "/var/log/x.log", "deliveryStream": "s"{extra}}}]}}"#
        )
        .into_bytes()
    };
    let deep = {
        let mut v = b"{\"flows\": ".to_vec();
        v.extend(std::iter::repeat_n(b'[', 100_000));
        v.extend(std::iter::repeat_n(b']', 100_000));
        v.push(b'}');
        v
    };
    vec![
        ("empty", Vec::new(), vec![]),
        ("truncated", b"{\"flows\": [ {\"filePattern\": ".to_vec(), vec![]),
        ("binary", binary_blob(4096), vec![]),
        ("invalid-utf8", b"{\"flows\": [], \"x\": \"\xff\xfe\"}".to_vec(), vec![]),
        ("top-level-array", b"[1, 2, 3]".to_vec(), vec![]),
        ("trailing-comma", b"{\"flows\": [],}".to_vec(), vec![]),
        ("deep-nesting", deep, vec![]),
        ("no-flows", b"{}".to_vec(), vec!["flows"]),
        ("flows-object", b"{\"flows\": {}}".to_vec(), vec!["flows"]),
        (
            "flow-not-object",
            b"{\"flows\": [42]}".to_vec(),
            vec!["flows"],
        ),
        (
            "relative-pattern",
            br#"{"flows": [{"filePattern": "x.log", "deliveryStream": "s"}]}"#.to_vec(),
            vec!["filePattern"],
        ),
        (
            "pattern-number",
            br#"{"flows": [{"filePattern": 42, "deliveryStream": "s"}]}"#.to_vec(),
            vec!["filePattern"],
        ),
        (
            "no-destination",
            br#"{"flows": [{"filePattern": "/var/log/x.log"}]}"#.to_vec(),
            vec!["deliveryStream"],
        ),
        (
            "age-string",
            flow(r#", "maxBufferAgeMillis": "soon""#),
            vec!["maxBufferAgeMillis"],
        ),
        (
            "age-huge",
            flow(r#", "maxBufferAgeMillis": 99999999999999999999999999999"#),
            vec!["maxBufferAgeMillis"],
        ),
        (
            "age-1e400",
            flow(r#", "maxBufferAgeMillis": 1e400"#),
            vec!["maxBufferAgeMillis"],
        ),
        (
            "age-negative",
            flow(r#", "maxBufferAgeMillis": -1"#),
            vec!["maxBufferAgeMillis"],
        ),
        (
            "records-float",
            flow(r#", "maxBufferSizeRecords": 1.5"#),
            vec!["maxBufferSizeRecords"],
        ),
        (
            "inflight-u64-overflow",
            flow(r#", "firetail.maxInFlightBytes": 18446744073709551616"#),
            vec!["firetail.maxInFlightBytes"],
        ),
        (
            "age-null",
            flow(r#", "maxBufferAgeMillis": null"#),
            vec!["maxBufferAgeMillis"],
        ),
        (
            "position-enum",
            flow(r#", "initialPosition": "MIDDLE_OF_FILE""#),
            vec!["initialPosition"],
        ),
        (
            "position-lowercase",
            flow(r#", "initialPosition": "start_of_file""#),
            vec!["initialPosition"],
        ),
        (
            "processing-unknown",
            flow(r#", "dataProcessingOptions": [{"optionName": "TELEPORT"}]"#),
            vec!["dataProcessingOptions"],
        ),
        (
            "bad-regex",
            flow(r#", "multiLineStartPattern": "([unclosed""#),
            vec![],
        ),
        (
            "bool-garbage",
            br#"{"cloudwatch.emitMetrics": "maybe", "flows": [{"filePattern": "/var/log/x.log", "deliveryStream": "s"}]}"#.to_vec(),
            vec!["cloudwatch.emitMetrics"],
        ),
        (
            "ttl-overflow",
            br#"{"checkpointTimeToLiveDays": 2147483648, "flows": [{"filePattern": "/var/log/x.log", "deliveryStream": "s"}]}"#.to_vec(),
            vec!["checkpointTimeToLiveDays"],
        ),
        (
            "listen-garbage",
            br#"{"firetail.metrics.listen": "not an address", "flows": [{"filePattern": "/var/log/x.log", "deliveryStream": "s"}]}"#.to_vec(),
            vec!["firetail.metrics.listen"],
        ),
        (
            "duplicate-flows",
            br#"{"flows": [{"filePattern": "/var/log/x.log", "deliveryStream": "s"}, {"filePattern": "/var/log/x.log", "deliveryStream": "s"}]}"#.to_vec(),
            vec![],
        ),
    ]
}

fn verdict(name: &str, path: &Path, out: &Output, keys: &[&str]) -> Option<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file_name = path.file_name().unwrap().to_string_lossy();
    let mut problems = Vec::new();
    if out.status.code() != Some(1) {
        problems.push(format!("exit {:?} (want 1)", out.status));
    }
    if stderr.contains("panicked") {
        problems.push("panicked".into());
    }
    if !stderr.contains(&*file_name) {
        problems.push("the message does not name the file".into());
    }
    for key in keys {
        if !stderr.contains(key) {
            problems.push(format!("the message does not name {key:?}"));
        }
    }
    (!problems.is_empty()).then(|| {
        format!(
            "{name}: {}\n    stderr: {}",
            problems.join("; "),
            stderr
                .chars()
                .take(400)
                .collect::<String>()
                .replace('\n', "\n    ")
        )
    })
}

#[test]
fn bad_configurations_exit_1_with_a_located_message_and_no_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (name, content, keys) in bad_configs() {
        let path = tmp.path().join(format!("{name}.json"));
        std::fs::write(&path, &content).unwrap();
        let out = firetail(&["check-config", "-q"], &path);
        failures.extend(verdict(name, &path, &out, &keys));
    }
    // The daemon refuses the same way, before doing anything.
    for name in ["truncated", "age-huge", "position-enum"] {
        let path = tmp.path().join(format!("{name}.json"));
        let out = firetail(&["run"], &path);
        failures.extend(verdict(&format!("run {name}"), &path, &out, &[]));
    }
    let missing = tmp.path().join("nowhere/agent.json");
    for cmd in ["check-config", "run"] {
        let out = firetail(&[cmd], &missing);
        failures.extend(verdict(&format!("{cmd} missing file"), &missing, &out, &[]));
    }
    let dir_as_config = tmp.path().join("a-directory.json");
    std::fs::create_dir(&dir_as_config).unwrap();
    let out = firetail(&["check-config"], &dir_as_config);
    failures.extend(verdict("directory as config", &dir_as_config, &out, &[]));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The daemon, unable to read a file whose mode forbids it even when the tests run as
/// root: `setpriv` drops the capabilities that let root ignore file modes
/// (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), while root still owns everything else the
/// test made.
fn daemon_without_dac_override(dir: &std::path::Path, cfg: &serde_json::Value) -> Daemon {
    if firetail_testkit::is_root() {
        Daemon::start_wrapped(
            dir,
            cfg,
            &[
                "setpriv",
                "--bounding-set=-dac_override,-dac_read_search",
                "--inh-caps=-dac_override,-dac_read_search",
                "--",
            ],
        )
    } else {
        Daemon::start(dir, cfg)
    }
}
