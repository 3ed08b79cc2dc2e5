//! End-to-end benchmark of the real binary: `firetail run` tailing one big file into
//! `firetail local-firehose --discard`, each pinned to its own core, against the machine's
//! own limits (`cat`, `base64`, `sha256sum` on the same file), then a second run at a fixed
//! offered rate for write-to-acknowledge latency.
//!
//! `scripts/bench` builds and runs it (`cargo bench --profile release --bench e2e -- ...`);
//! plain `cargo bench --bench e2e` runs it on a smaller default input. With `--matrix` it
//! runs the workload matrix instead (`benches/matrix/`: several workloads, each unpinned and
//! pinned; that module's docs list the rows and how their figures are measured), reusing
//! this file's endpoint, daemon, `/proc` and baseline helpers.
//!
//! How each figure is measured (the sound part is the point of this file):
//! - **Throughput**: file bytes / (time from spawning the daemon to the endpoint's
//!   `GET /stats` showing every line accepted). Startup and the last partial batch count.
//! - **CPU s/GiB**: the daemon's `utime + stime` from `/proc/<pid>/stat` at that moment,
//!   scaled to one GiB; cross-checked with `/usr/bin/time -v`, which wraps the daemon.
//! - **Peak RSS**: `VmHWM` from `/proc/<pid>/status` (and `/usr/bin/time -v`'s maximum RSS).
//! - **Latency**: the tailer stamps nothing, so both ends are observed from outside. A
//!   poller thread `stat`s the access log and the endpoint's record log (`--record-log
//!   --record-log-data`, one JSON line per accepted record, appended at acceptance) every
//!   millisecond and notes when each grows. A line's write time is the first poll at which
//!   the access log holds its last byte; its acknowledge time is the first poll at which
//!   the record log holds the JSON line carrying it (found by the generator's `seq<N>`
//!   user field). The endpoint flushes its record log after every request
//!   (`--record-log-flush`), so the figure over-estimates latency by at most one poll
//!   (the inter-request gap is still reported as `gap_ms`). Records not visible when the
//!   run ends are left out and counted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

mod matrix;

const FIRETAIL: &str = env!("CARGO_BIN_EXE_firetail");
const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;
/// Fixed log time of the first line, so a seed gives the same bytes on every run.
const START_TIME: &str = "2026-01-01T00:00:00Z";

struct Args {
    size: u64,
    seed: u64,
    rate: u32,
    latency_secs: u64,
    buffer_age_ms: u64,
    work: PathBuf,
    out: PathBuf,
    daemon_core: String,
    endpoint_core: String,
    skip_latency: bool,
    skip_baselines: bool,
    /// Extra flow keys (`--flow-key firetail.maxInFlightBytes=4194304`), for sensitivity runs.
    flow_keys: Vec<(String, Value)>,
    perf: bool,
    /// `--matrix`: the workload matrix (benches/matrix) instead of the single run.
    matrix: matrix::MatrixArgs,
}

fn parse_size(s: &str) -> u64 {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('G' | 'g') => (&s[..s.len() - 1], 1u64 << 30),
        Some('M' | 'm') => (&s[..s.len() - 1], 1u64 << 20),
        Some('K' | 'k') => (&s[..s.len() - 1], 1u64 << 10),
        _ => (s, 1),
    };
    let v: f64 = num.parse().unwrap_or_else(|_| panic!("bad size {s:?}"));
    (v * mult as f64) as u64
}

fn parse_args() -> Args {
    let mut a = Args {
        size: 256 << 20,
        seed: 42,
        rate: 20_000,
        latency_secs: 30,
        buffer_age_ms: 1000,
        work: std::env::temp_dir().join("firetail-bench"),
        out: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/bench-results")),
        daemon_core: "0".into(),
        endpoint_core: "1".into(),
        skip_latency: false,
        skip_baselines: false,
        perf: false,
        flow_keys: Vec::new(),
        matrix: matrix::MatrixArgs::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--size" => a.size = parse_size(&val()),
            "--seed" => a.seed = val().parse().unwrap(),
            "--rate" => a.rate = val().parse().unwrap(),
            "--latency-secs" => a.latency_secs = val().parse().unwrap(),
            "--buffer-age-ms" => a.buffer_age_ms = val().parse().unwrap(),
            "--work" => a.work = PathBuf::from(val()),
            "--out" => a.out = PathBuf::from(val()),
            "--daemon-core" => a.daemon_core = val(),
            "--endpoint-core" => a.endpoint_core = val(),
            "--skip-latency" => a.skip_latency = true,
            "--skip-baselines" => a.skip_baselines = true,
            "--perf" => a.perf = true,
            "--flow-key" => {
                let kv = val();
                let (k, v) = kv.split_once('=').expect("--flow-key KEY=JSON");
                let v = serde_json::from_str(v).unwrap_or_else(|_| json!(v));
                a.flow_keys.push((k.to_string(), v));
            }
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            "--matrix" => a.matrix.enabled = true,
            "--rows" => a.matrix.rows = Some(val().split(',').map(str::to_owned).collect()),
            "--modes" => a.matrix.modes = Some(val().split(',').map(str::to_owned).collect()),
            "--idle-secs" => a.matrix.idle_secs = val().parse().unwrap(),
            "--busy-secs" => a.matrix.busy_secs = Some(val().parse().unwrap()),
            "--stall-secs" => a.matrix.stall_secs = val().parse().unwrap(),
            "--keep-inputs" => a.matrix.keep_inputs = true,
            other => panic!("unknown argument {other:?}"),
        }
    }
    a
}

fn main() {
    let args = parse_args();
    std::fs::create_dir_all(&args.work).unwrap();
    std::fs::create_dir_all(&args.out).unwrap();
    if args.matrix.enabled {
        matrix::run(&args);
        return;
    }
    let host = host_facts();
    eprintln!(
        "e2e bench: firetail {FIRETAIL}, work dir {}",
        args.work.display()
    );

    let data = prepare_input(&args);
    let baselines = if args.skip_baselines {
        Vec::new()
    } else {
        ["cat", "base64", "sha256sum"]
            .iter()
            .map(|tool| baseline(tool, &data.path, Some(&args.daemon_core)))
            .collect()
    };
    let throughput = throughput_run(&args, &data);
    let latency = (!args.skip_latency).then(|| latency_run(&args));

    let report = json!({
        "host": host,
        "input": {
            "path": data.path, "bytes": data.bytes, "lines": data.lines,
            "avg_line_bytes": data.bytes as f64 / data.lines as f64,
            "seed": args.seed, "generate_secs": data.generate_secs,
        },
        "baselines": baselines,
        "throughput": throughput,
        "latency": latency,
        "flow_keys": args.flow_keys.iter().map(|(k, v)| json!({k: v})).collect::<Vec<_>>(),
    });
    let stamp = chrono_stamp();
    let out = args.out.join(format!("e2e-{stamp}.json"));
    std::fs::write(&out, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    print_markdown(&report);
    println!("\nraw: {}", out.display());
}

fn chrono_stamp() -> String {
    let out = Command::new("date")
        .arg("-u")
        .arg("+%Y%m%dT%H%M%SZ")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn host_facts() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let version = Command::new(FIRETAIL)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    json!({
        "cpu": cpu,
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "loadavg_start": loadavg(),
        "firetail": version,
        "binary": FIRETAIL,
    })
}

struct Input {
    path: PathBuf,
    bytes: u64,
    lines: u64,
    generate_secs: f64,
}

fn count_lines(path: &Path) -> (u64, u64) {
    let mut f = File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let (mut bytes, mut lines) = (0u64, 0u64);
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            return (bytes, lines);
        }
        bytes += n as u64;
        lines += memchr_count(&buf[..n]);
    }
}

fn memchr_count(buf: &[u8]) -> u64 {
    buf.iter().filter(|b| **b == b'\n').count() as u64
}

fn generate(path: &Path, seed: u64, count: u64) -> f64 {
    generate_with(path, seed, count, &[])
}

/// `firetail generate --rate max` of `count` lines into `path` (replaced: the generator
/// appends), with `extra` generator flags.
fn generate_with(path: &Path, seed: u64, count: u64, extra: &[&str]) -> f64 {
    let _ = std::fs::remove_file(path);
    let started = Instant::now();
    let status = Command::new(FIRETAIL)
        .args(["generate", "--rate", "max", "--start-time", START_TIME])
        .args(extra)
        .arg("--count")
        .arg(count.to_string())
        .arg("--seed")
        .arg(seed.to_string())
        .arg("-o")
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "firetail generate failed: {status}");
    started.elapsed().as_secs_f64()
}

/// The input file: `--size` bytes (rounded to whole lines) of combined lines, generated
/// once per size and seed and reused (the name says both).
fn prepare_input(args: &Args) -> Input {
    let path = args
        .work
        .join(format!("input-{}-{}.log", args.size, args.seed));
    let meta = path.with_extension("meta.json");
    if let (Ok(_), Ok(text)) = (std::fs::metadata(&path), std::fs::read_to_string(&meta)) {
        let m: Value = serde_json::from_str(&text).unwrap();
        let bytes = std::fs::metadata(&path).unwrap().len();
        if m["bytes"].as_u64() == Some(bytes) {
            eprintln!("reusing {}", path.display());
            return Input {
                path,
                bytes,
                lines: m["lines"].as_u64().unwrap(),
                generate_secs: m["generate_secs"].as_f64().unwrap_or(0.0),
            };
        }
    }
    // The generator's average line length decides the line count.
    let sample = args.work.join("sample.log");
    generate(&sample, args.seed, 100_000);
    let (sbytes, slines) = count_lines(&sample);
    let _ = std::fs::remove_file(&sample);
    let avg = sbytes as f64 / slines as f64;
    let count = (args.size as f64 / avg).ceil() as u64;
    eprintln!(
        "generating {count} lines (sample average {avg:.1} bytes) into {}",
        path.display()
    );
    let secs = generate(&path, args.seed, count);
    let (bytes, lines) = count_lines(&path);
    std::fs::write(
        &meta,
        serde_json::to_vec(&json!({"bytes": bytes, "lines": lines, "generate_secs": secs}))
            .unwrap(),
    )
    .unwrap();
    Input {
        path,
        bytes,
        lines,
        generate_secs: secs,
    }
}

/// `/usr/bin/time -f` on `taskset -c CORE tool FILE > /dev/null` (no taskset without a core).
fn baseline(tool: &str, file: &Path, core: Option<&str>) -> Value {
    let timing = std::env::temp_dir().join(format!("firetail-bench-{tool}.time"));
    let load = loadavg();
    let started = Instant::now();
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%e %U %S %M", "-o"])
        .arg(&timing)
        .args(pinned(core))
        .arg(tool)
        .arg(file)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    let wall = started.elapsed().as_secs_f64();
    assert!(status.success(), "{tool} failed");
    let text = std::fs::read_to_string(&timing).unwrap();
    let f: Vec<f64> = text
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let bytes = std::fs::metadata(file).unwrap().len() as f64;
    json!({
        "tool": tool,
        "wall_secs": wall,
        "cpu_secs": f.get(1).unwrap_or(&0.0) + f.get(2).unwrap_or(&0.0),
        "mib_per_sec": bytes / MIB / wall,
        "loadavg": load,
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.1 GET returning the body.
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        return Ok(out);
    }
    Ok(body.to_string())
}

fn stats(addr: SocketAddr) -> Option<Value> {
    http_get(addr, "/stats")
        .ok()
        .and_then(|b| serde_json::from_str(&b).ok())
}

struct Endpoint {
    child: Child,
    addr: SocketAddr,
    /// The command line it was started with.
    argv: Vec<String>,
}

impl Endpoint {
    fn start(core: Option<&str>, dir: &Path, extra: &[&str]) -> Endpoint {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let argv = Self::argv(core, addr, dir, extra);
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while stats(addr).is_none() {
            assert!(Instant::now() < deadline, "local-firehose did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        Endpoint { child, addr, argv }
    }

    /// The endpoint's command line (`taskset -c CORE` first when pinned).
    fn argv(core: Option<&str>, addr: SocketAddr, dir: &Path, extra: &[&str]) -> Vec<String> {
        let mut argv = pinned(core);
        argv.extend(
            [FIRETAIL, "local-firehose", "--auto-create", "--listen"]
                .iter()
                .map(|s| s.to_string()),
        );
        argv.push(addr.to_string());
        argv.push("--dir".into());
        argv.push(dir.display().to_string());
        argv.extend(extra.iter().map(|s| s.to_string()));
        argv
    }

    fn accepted(&self) -> u64 {
        stats(self.addr)
            .and_then(|s| s["records_accepted"].as_u64())
            .unwrap_or(0)
    }

    /// SIGINT: the endpoint writes its buffers and flushes its record log, then exits.
    fn stop(mut self) {
        signal(self.child.id(), "INT");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `taskset -c CORE`, or nothing when the process may run anywhere.
fn pinned(core: Option<&str>) -> Vec<String> {
    match core {
        Some(core) => vec!["taskset".into(), "-c".into(), core.into()],
        None => Vec::new(),
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

fn write_agent_json(dir: &Path, endpoint: SocketAddr, pattern: &Path, args: &Args) -> PathBuf {
    let checkpoints = dir.join("checkpoints.json");
    let _ = std::fs::remove_file(&checkpoints);
    let mut cfg = json!({
        "checkpointFile": checkpoints,
        "awsAccessKeyId": "bench",
        "awsSecretAccessKey": "bench",
        "firetail.region": "us-east-1",
        "firehose.endpoint": format!("http://{endpoint}"),
        "cloudwatch.emitMetrics": false,
        "firetail.metrics.listen": "",
        "flows": [{
            "filePattern": pattern,
            "deliveryStream": "bench",
            "initialPosition": "START_OF_FILE",
            "maxBufferAgeMillis": args.buffer_age_ms,
        }]
    });
    for (k, v) in &args.flow_keys {
        cfg["flows"][0][k] = v.clone();
    }
    let path = dir.join("agent.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    path
}

/// The daemon under `/usr/bin/time -v` (and optionally `perf record`), pinned to `core`.
struct Daemon {
    wrapper: Child,
    pid: u32,
    time_file: PathBuf,
}

impl Daemon {
    fn start(core: &str, config: &Path, dir: &Path, perf: Option<&Path>) -> Daemon {
        let argv = Self::argv(Some(core), &["--log-level", "warn"], config);
        Self::spawn(&argv, dir, perf)
    }

    /// `[taskset -c CORE] firetail GLOBAL_FLAGS run -c CONFIG`.
    fn argv(core: Option<&str>, global_flags: &[&str], config: &Path) -> Vec<String> {
        let mut argv = pinned(core);
        argv.push(FIRETAIL.into());
        argv.extend(global_flags.iter().map(|s| s.to_string()));
        argv.extend(["run".to_string(), "-c".to_string()]);
        argv.push(config.display().to_string());
        argv
    }

    /// `argv` under `/usr/bin/time -v` (and `perf record`), stderr to `dir/daemon.stderr`.
    fn spawn(argv: &[String], dir: &Path, perf: Option<&Path>) -> Daemon {
        let time_file = dir.join("time-v.txt");
        let mut cmd = Command::new("/usr/bin/time");
        cmd.arg("-v").arg("-o").arg(&time_file);
        if let Some(data) = perf {
            cmd.args(["perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-o"])
                .arg(data)
                .arg("--");
        }
        cmd.args(argv)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(File::create(dir.join("daemon.stderr")).unwrap());
        let wrapper = cmd.spawn().unwrap();
        let pid = find_descendant(wrapper.id(), "firetail");
        Daemon {
            wrapper,
            pid,
            time_file,
        }
    }

    /// utime + stime, in seconds.
    fn cpu_secs(&self) -> f64 {
        proc_cpu_secs(self.pid)
    }

    fn hwm_kib(&self) -> u64 {
        proc_status_kib(self.pid, "VmHWM:")
    }

    /// SIGTERM, wait, and `/usr/bin/time -v`'s figures.
    fn stop(mut self) -> Value {
        signal(self.pid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.wrapper.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.wrapper.kill();
        let _ = self.wrapper.wait();
        let text = std::fs::read_to_string(&self.time_file).unwrap_or_default();
        let field = |name: &str| -> Option<f64> {
            text.lines()
                .find(|l| l.trim_start().starts_with(name))
                .and_then(|l| l.rsplit(':').next())
                .and_then(|v| v.trim().parse().ok())
        };
        json!({
            "user_secs": field("User time (seconds)"),
            "system_secs": field("System time (seconds)"),
            "max_rss_kib": field("Maximum resident set size (kbytes)"),
            "voluntary_switches": field("Voluntary context switches"),
            "involuntary_switches": field("Involuntary context switches"),
        })
    }
}

/// The pid of the first descendant of `root` whose comm is `name` (taskset execs it).
fn find_descendant(root: u32, name: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut stack = vec![root];
        while let Some(pid) = stack.pop() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if pid != root && comm.trim() == name {
                return pid;
            }
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            stack.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
        assert!(Instant::now() < deadline, "no {name} under pid {root}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    out.ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn proc_cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised comm: state is field 3, utime 14, stime 15.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / clock_ticks()
}

fn proc_status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn throughput_run(args: &Args, data: &Input) -> Value {
    let dir = args.work.join("throughput");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let endpoint = Endpoint::start(Some(&args.endpoint_core), &dir.join("out"), &["--discard"]);
    let config = write_agent_json(&dir, endpoint.addr, &data.path, args);
    let load_before = loadavg();
    let perf = args.perf.then(|| dir.join("perf.data"));
    let started = Instant::now();
    let daemon = Daemon::start(&args.daemon_core, &config, &dir, perf.as_deref());
    let mut hwm = 0;
    let mut samples = Vec::new();
    let mut last = (0.0f64, 0u64);
    // When 99% of the lines were accepted: the rate without startup and the last partial
    // batch, which waits for maxBufferAgeMillis.
    let mut t99 = None;
    let deadline = started + Duration::from_secs(3600);
    loop {
        let accepted = endpoint.accepted();
        hwm = hwm.max(daemon.hwm_kib());
        let t = started.elapsed().as_secs_f64();
        if t - last.0 >= 1.0 {
            samples.push(json!({"t": t, "records": accepted}));
            last = (t, accepted);
        }
        if t99.is_none() && accepted as f64 >= 0.99 * data.lines as f64 {
            t99 = Some(t);
        }
        if accepted >= data.lines {
            break;
        }
        assert!(Instant::now() < deadline, "the daemon never caught up");
        std::thread::sleep(Duration::from_millis(10));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = daemon.cpu_secs();
    hwm = hwm.max(daemon.hwm_kib());
    let endpoint_cpu = proc_cpu_secs(find_descendant_or_self(endpoint.child.id()));
    let load_after = loadavg();
    let time_v = daemon.stop();
    endpoint.stop();
    let gib = data.bytes as f64 / GIB;
    json!({
        "elapsed_secs": elapsed,
        "mib_per_sec": data.bytes as f64 / MIB / elapsed,
        "lines_per_sec": data.lines as f64 / elapsed,
        "secs_to_99pct": t99,
        "mib_per_sec_to_99pct": t99.map(|t| 0.99 * data.bytes as f64 / MIB / t),
        "lines_per_sec_to_99pct": t99.map(|t| 0.99 * data.lines as f64 / t),
        "daemon_cpu_secs": cpu,
        "cpu_secs_per_gib": cpu / gib,
        "peak_rss_kib": hwm,
        "endpoint_cpu_secs": endpoint_cpu,
        "time_v": time_v,
        "time_v_cpu_secs_per_gib": time_v["user_secs"].as_f64().zip(time_v["system_secs"].as_f64()).map(|(u, s)| (u + s) / gib),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "progress": samples,
        "perf_data": perf,
    })
}

fn find_descendant_or_self(pid: u32) -> u32 {
    // taskset execs firetail in place, so the spawned pid is the endpoint itself.
    pid
}

/// (time since the poller started, file size) every time the size changed.
type Growth = Vec<(f64, u64)>;

fn poll_sizes(paths: [PathBuf; 2], stop: Arc<AtomicBool>, t0: Instant) -> ([Growth; 2], f64) {
    let mut growth: [Growth; 2] = [Vec::new(), Vec::new()];
    let mut last = [0u64; 2];
    let mut max_gap = 0.0f64;
    let mut prev = t0.elapsed().as_secs_f64();
    while !stop.load(Ordering::Relaxed) {
        let now = t0.elapsed().as_secs_f64();
        max_gap = max_gap.max(now - prev);
        prev = now;
        for (i, p) in paths.iter().enumerate() {
            let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            if size > last[i] {
                growth[i].push((now, size));
                last[i] = size;
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    (growth, max_gap)
}

/// First time at which the file held `end` bytes.
fn seen_at(growth: &Growth, end: u64) -> Option<f64> {
    let i = growth.partition_point(|(_, size)| *size < end);
    growth.get(i).map(|(t, _)| *t)
}

/// The `seq<N>` in a combined line's user field.
fn seq_of(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let user = text.split(' ').nth(2)?;
    user.strip_prefix("seq")?.parse().ok()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn latency_run(args: &Args) -> Value {
    let dir = args.work.join("latency");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let record_log = dir.join("records.jsonl");
    let endpoint = Endpoint::start(
        Some(&args.endpoint_core),
        &dir.join("out"),
        &[
            "--record-log",
            record_log.to_str().unwrap(),
            "--record-log-data",
            // Each record visible the moment it is accepted: without it the log's 8 KiB
            // buffer held records back by up to a flush (the `gap_ms` below).
            "--record-log-flush",
        ],
    );
    let log = dir.join("logs/access.log");
    let config = write_agent_json(&dir, endpoint.addr, &log, args);
    let daemon = Daemon::start(&args.daemon_core, &config, &dir, None);
    std::thread::sleep(Duration::from_secs(2));
    let load_before = loadavg();
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (stop, paths) = (Arc::clone(&stop), [log.clone(), record_log.clone()]);
        std::thread::spawn(move || poll_sizes(paths, stop, t0))
    };
    let status = Command::new(FIRETAIL)
        .args(["generate", "--sequence"])
        .arg("--rate")
        .arg(args.rate.to_string())
        .arg("--duration")
        .arg(format!("{}s", args.latency_secs))
        .arg("--seed")
        .arg(args.seed.to_string())
        .arg("-o")
        .arg(&log)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "generate failed");
    let (_, lines) = count_lines(&log);
    let deadline = Instant::now() + Duration::from_secs(60);
    while endpoint.accepted() < lines && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // One more buffer age, so the poller sees whatever the record log flushes on its own.
    std::thread::sleep(Duration::from_millis(args.buffer_age_ms + 200));
    stop.store(true, Ordering::Relaxed);
    let ([written, acked], max_poll_gap) = poller.join().unwrap();
    let cpu = daemon.cpu_secs();
    let hwm = daemon.hwm_kib();
    let load_after = loadavg();
    let time_v = daemon.stop();
    endpoint.stop();

    let Latencies {
        latencies,
        unobserved,
        gaps,
    } = latencies(&log, &written, &record_log, &acked);
    json!({
        "offered_lines_per_sec": args.rate,
        "secs": args.latency_secs,
        "buffer_age_ms": args.buffer_age_ms,
        "lines_written": lines,
        "records_measured": latencies.len(),
        "records_unobserved": unobserved,
        "p50_ms": percentile(&latencies, 0.50) * 1e3,
        "p90_ms": percentile(&latencies, 0.90) * 1e3,
        "p99_ms": percentile(&latencies, 0.99) * 1e3,
        "p999_ms": percentile(&latencies, 0.999) * 1e3,
        "max_ms": latencies.last().copied().unwrap_or(f64::NAN) * 1e3,
        "min_ms": latencies.first().copied().unwrap_or(f64::NAN) * 1e3,
        "record_log_gap_ms_p50": percentile(&gaps, 0.5) * 1e3,
        "record_log_gap_ms_p99": percentile(&gaps, 0.99) * 1e3,
        "max_poll_gap_ms": max_poll_gap * 1e3,
        "daemon_cpu_secs": cpu,
        "daemon_cpu_share": cpu / args.latency_secs as f64,
        "peak_rss_kib": hwm,
        "time_v": time_v,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
    })
}

/// Write-to-acknowledge times of a latency run, sorted.
struct Latencies {
    latencies: Vec<f64>,
    /// Records whose write or acknowledgement the poller did not see.
    unobserved: u64,
    /// Gaps between successive acknowledgement times in the record log, sorted.
    gaps: Vec<f64>,
}

/// Matches each record in the endpoint's `record_log` to the moment its line was written
/// to `log` and the moment it was acknowledged, from the two files' growth over time.
fn latencies(log: &Path, written: &Growth, record_log: &Path, acked: &Growth) -> Latencies {
    // Write time of every line, by seq.
    let data = std::fs::read(log).unwrap();
    let mut write_time: HashMap<u64, f64> = HashMap::new();
    let mut end = 0u64;
    for line in data.split_inclusive(|b| *b == b'\n') {
        end += line.len() as u64;
        if let (Some(seq), Some(t)) = (seq_of(line), seen_at(written, end)) {
            write_time.insert(seq, t);
        }
    }
    // Acknowledge time of every record, in record-log order.
    let mut latencies = Vec::new();
    let mut unobserved = 0u64;
    let mut seen: HashMap<u64, ()> = HashMap::new();
    let mut ack_times = Vec::new();
    let mut end = 0u64;
    for line in BufReader::new(File::open(record_log).unwrap()).split(b'\n') {
        let line = line.unwrap();
        end += line.len() as u64 + 1;
        let v: Value = serde_json::from_slice(&line).unwrap();
        let record = base64::engine::general_purpose::STANDARD
            .decode(v["data"].as_str().unwrap_or(""))
            .unwrap();
        let Some(seq) = seq_of(&record) else { continue };
        if seen.insert(seq, ()).is_some() {
            continue;
        }
        match (seen_at(acked, end), write_time.get(&seq)) {
            (Some(a), Some(w)) => {
                latencies.push(a - w);
                ack_times.push(a);
            }
            _ => unobserved += 1,
        }
    }
    ack_times.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    let mut gaps: Vec<f64> = ack_times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(f64::total_cmp);
    latencies.sort_by(f64::total_cmp);
    Latencies {
        latencies,
        unobserved,
        gaps,
    }
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn print_markdown(r: &Value) {
    let t = &r["throughput"];
    let mibs = num(&t["mib_per_sec"]);
    print_setting(r);
    println!("| measure | value | target | met |");
    println!("| --- | --- | --- | --- |");
    let row = |name: &str, value: String, target: &str, ok: bool| {
        println!(
            "| {name} | {value} | {target} | {} |",
            if ok { "yes" } else { "NO" }
        );
    };
    row(
        "throughput (MiB/s, 1 core): all lines / first 99% (lines/s)",
        format!(
            "{mibs:.1} / {:.1} ({:.0} lines/s)",
            num(&t["mib_per_sec_to_99pct"]),
            num(&t["lines_per_sec_to_99pct"])
        ),
        ">= 100",
        mibs >= 100.0,
    );
    let cpu = num(&t["cpu_secs_per_gib"]);
    row(
        "CPU s per GiB (/proc)",
        format!(
            "{cpu:.2} (time -v: {:.2})",
            num(&t["time_v_cpu_secs_per_gib"])
        ),
        "< 9",
        cpu < 9.0,
    );
    let rss = num(&t["peak_rss_kib"]) / 1024.0;
    row(
        "peak RSS (MiB, VmHWM)",
        format!(
            "{rss:.1} (time -v: {:.1})",
            num(&t["time_v"]["max_rss_kib"]) / 1024.0
        ),
        "< 32",
        rss < 32.0,
    );
    if let Some(l) = r["latency"].as_object() {
        let p99 = num(&l["p99_ms"]);
        row(
            &format!(
                "latency p50 / p99 (ms) at {} lines/s, {} ms buffer age",
                l["offered_lines_per_sec"], l["buffer_age_ms"]
            ),
            format!(
                "{:.0} / {p99:.0} (p99.9 {:.0}, max {:.0})",
                num(&l["p50_ms"]),
                num(&l["p999_ms"]),
                num(&l["max_ms"])
            ),
            "p99 < 1100",
            p99 < 1100.0,
        );
    }
    println!(
        "\nload average: throughput run {} -> {}",
        t["loadavg_before"].as_str().unwrap_or("?"),
        t["loadavg_after"].as_str().unwrap_or("?")
    );
    print_baselines(r, mibs);
}

/// The heading: the host, the input and the flow keys that differ from the defaults.
fn print_setting(r: &Value) {
    println!("## firetail end-to-end benchmark\n");
    println!(
        "host: {} ({} CPUs), load average at start {}; input {:.0} MiB, {} lines, {:.1} bytes/line\n",
        r["host"]["cpu"].as_str().unwrap_or("?"),
        r["host"]["nproc"],
        r["host"]["loadavg_start"].as_str().unwrap_or("?"),
        num(&r["input"]["bytes"]) / MIB,
        r["input"]["lines"],
        num(&r["input"]["avg_line_bytes"]),
    );
    if let Some(keys) = r["flow_keys"].as_array().filter(|k| !k.is_empty()) {
        println!(
            "flow keys changed from the defaults: {}\n",
            Value::Array(keys.clone())
        );
    }
}

/// The table of the same input through other tools, if any were run.
fn print_baselines(r: &Value, mibs: f64) {
    let t = &r["throughput"];
    if let Some(b) = r["baselines"].as_array().filter(|b| !b.is_empty()) {
        println!("\n| same file through | MiB/s | CPU s | firetail / tool | load |");
        println!("| --- | --- | --- | --- | --- |");
        println!(
            "| firetail run (daemon pinned to one core) | {mibs:.1} | {:.2} | 1.00 | {} |",
            num(&t["daemon_cpu_secs"]),
            t["loadavg_after"].as_str().unwrap_or("?")
        );
        for x in b {
            let m = num(&x["mib_per_sec"]);
            println!(
                "| `{}` | {m:.1} | {:.2} | {:.3} | {} |",
                x["tool"].as_str().unwrap_or("?"),
                num(&x["cpu_secs"]),
                mibs / m,
                x["loadavg"].as_str().unwrap_or("?")
            );
        }
    }
}
