//! Running one row in one mode: the endpoint, the agent.json, the daemon, the wait for
//! every line, and the figures.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::super::{
    baseline, count_lines, free_port, loadavg, proc_cpu_secs, stats, Args, Daemon, Endpoint,
    FIRETAIL,
};
use super::inputs::{Dest, Workload, BOT_SHARE, BUSY_RATE};
use super::{gib, mib, Mode};

/// Quiet time after the many-files start-up was delivered, before the idle window opens.
const SETTLE_SECS: u64 = 5;

/// A fresh directory for one row in one mode.
fn run_dir(work: &Path, row: &str, mode: Mode) -> PathBuf {
    let dir = work.join("runs").join(format!("{row}-{}", mode.name()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The row's agent.json: defaults, the row's keys, `maxBufferAgeMillis` 1000, plumbing.
fn agent_json(dir: &Path, endpoint: &Endpoint, w: &Workload) -> (PathBuf, Value) {
    let url = format!("http://{}", endpoint.addr);
    let flows: Vec<Value> = w
        .flows
        .iter()
        .map(|f| {
            let mut flow = json!({
                "filePattern": f.pattern,
                "initialPosition": "START_OF_FILE",
                "maxBufferAgeMillis": 1000,
            });
            match f.dest {
                Dest::Firehose => flow["deliveryStream"] = json!(f.stream),
                Dest::Kinesis(option) => {
                    flow["kinesisStream"] = json!(f.stream);
                    flow["partitionKeyOption"] = json!(option);
                }
            }
            for (k, v) in &f.keys {
                flow[*k] = v.clone();
            }
            flow
        })
        .collect();
    let cfg = json!({
        "checkpointFile": dir.join("checkpoints.json"),
        "awsAccessKeyId": "bench",
        "awsSecretAccessKey": "bench",
        "firetail.region": "us-east-1",
        "firehose.endpoint": url,
        "kinesis.endpoint": url,
        "cloudwatch.emitMetrics": false,
        "firetail.metrics.listen": format!("127.0.0.1:{}", free_port()),
        "flows": flows,
    });
    let path = dir.join("agent.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    (path, cfg)
}

/// What the endpoint had accepted when a wait ended.
struct Delivered {
    secs: f64,
    records: u64,
    bytes: u64,
}

/// (records, bytes) accepted so far.
fn accepted(endpoint: &Endpoint) -> (u64, u64) {
    stats(endpoint.addr)
        .map(|s| {
            (
                s["records_accepted"].as_u64().unwrap_or(0),
                s["bytes_accepted"].as_u64().unwrap_or(0),
            )
        })
        .unwrap_or((0, 0))
}

/// Waits until the endpoint accepted `bytes` bytes (and `records` records, when given).
/// Errs when the daemon exits or nothing more arrives for `--stall-secs`.
fn wait_delivered(
    args: &Args,
    endpoint: &Endpoint,
    daemon: &Daemon,
    bytes: u64,
    records: Option<u64>,
    since: Instant,
) -> Result<Delivered, String> {
    let stall = Duration::from_secs(args.matrix.stall_secs);
    let mut last = (0, 0);
    let mut last_change = Instant::now();
    loop {
        let now = accepted(endpoint);
        if now.1 >= bytes && records.is_none_or(|r| now.0 >= r) {
            return Ok(Delivered {
                secs: since.elapsed().as_secs_f64(),
                records: now.0,
                bytes: now.1,
            });
        }
        if now != last {
            last = now;
            last_change = Instant::now();
        }
        if !Path::new(&format!("/proc/{}", daemon.pid)).exists() {
            return Err(format!(
                "the daemon exited; accepted {now:?} of ({records:?}, {bytes})"
            ));
        }
        if last_change.elapsed() > stall {
            return Err(format!(
                "nothing delivered for {} s: accepted {} records, {} bytes; expected {records:?} records, {bytes} bytes",
                stall.as_secs(),
                now.0,
                now.1
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops both processes and returns the row's failure: the reason and the daemon's last
/// log lines (the matrix goes on with the next row and exits non-zero at the end).
fn fail(
    w: &Workload,
    mode: Mode,
    dir: &Path,
    daemon: Daemon,
    endpoint: Endpoint,
    why: &str,
) -> Value {
    daemon.stop();
    let final_stats = stats(endpoint.addr).unwrap_or_default();
    endpoint.stop();
    let log = std::fs::read_to_string(dir.join("daemon.stderr")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(20).collect();
    eprintln!(
        "matrix row {} ({}): NOT EVERY LINE WAS DELIVERED: {why}\ndaemon log tail (newest first):\n{}",
        w.row,
        mode.name(),
        tail.join("\n")
    );
    json!({
        "row": w.row,
        "mode": mode.name(),
        "inputs": w.inputs,
        "failed": why,
        "daemon_log_tail": tail,
        "endpoint_stats": final_stats,
    })
}

/// The endpoint and daemon command lines, and the endpoint started.
fn start_endpoint(args: &Args, dir: &Path, w: &Workload, mode: Mode) -> Endpoint {
    let mut extra = vec!["--discard"];
    extra.extend(w.endpoint_extra.iter().map(String::as_str));
    Endpoint::start(mode.endpoint_core(args), &dir.join("out"), &extra)
}

/// Rows 1-4, 6, 6a, 6b, 7: start, wait for every line, measure.
pub(crate) fn throughput(args: &Args, work: &Path, w: &Workload, mode: Mode) -> Value {
    let dir = run_dir(work, w.row, mode);
    let sha = w
        .sha_file
        .as_ref()
        .map(|f| baseline("sha256sum", f, mode.daemon_core(args)));
    let endpoint = start_endpoint(args, &dir, w, mode);
    let (config, cfg) = agent_json(&dir, &endpoint, w);
    let daemon_argv = Daemon::argv(mode.daemon_core(args), &[], &config);
    let load_before = loadavg();
    let started = Instant::now();
    let daemon = Daemon::spawn(&daemon_argv, &dir, None);
    let done = match wait_delivered(args, &endpoint, &daemon, w.bytes, w.records, started) {
        Ok(done) => done,
        Err(why) => return fail(w, mode, &dir, daemon, endpoint, &why),
    };
    let cpu = daemon.cpu_secs();
    let hwm = daemon.hwm_kib();
    let endpoint_cpu = proc_cpu_secs(endpoint.child.id());
    let load_after = loadavg();
    let time_v = daemon.stop();
    let final_stats = stats(endpoint.addr).unwrap_or_default();
    let endpoint_argv = endpoint.argv.clone();
    endpoint.stop();
    let sha_cpu = sha.as_ref().and_then(|s| s["cpu_secs"].as_f64());
    json!({
        "row": w.row,
        "mode": mode.name(),
        "inputs": w.inputs,
        "bytes": w.bytes,
        "lines": w.lines,
        "records_expected": w.records,
        "records_accepted": done.records,
        "bytes_accepted": done.bytes,
        "records_accepted_at_stop": final_stats["records_accepted"],
        "elapsed_secs": done.secs,
        "mib_per_sec": mib(w.bytes as f64) / done.secs,
        "lines_per_sec": w.lines as f64 / done.secs,
        "records_per_sec": done.records as f64 / done.secs,
        "daemon_cpu_secs": cpu,
        "cpu_secs_per_gib": cpu / gib(w.bytes as f64),
        "peak_rss_kib": hwm,
        "sha256sum": sha,
        "cpu_ratio_to_sha256sum": sha_cpu.map(|s| cpu / s),
        "endpoint_cpu_secs": endpoint_cpu,
        "time_v": time_v,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "endpoint_argv": endpoint_argv,
        "daemon_argv": daemon_argv,
        "agent_json": cfg,
        "endpoint_stats": final_stats,
    })
}

/// Run time of every thread of `pid`, from `/proc/<pid>/task/*/schedstat` (ns), and the
/// number of threads.
fn schedstat_ns(pid: u32) -> (u64, usize) {
    let mut total = 0;
    let mut threads = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let text = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            if let Some(ns) = text
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
            {
                total += ns;
                threads += 1;
            }
        }
    }
    (total, threads)
}

/// The 10 busy writers: `firetail generate` at 2,000 lines/s each for `secs`.
fn start_writers(files: &[PathBuf], secs: u64, seed: u64, core: Option<&str>) -> Vec<Child> {
    files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            let mut argv = super::super::pinned(core);
            argv.push(FIRETAIL.into());
            Command::new(&argv[0])
                .args(&argv[1..])
                .args(["generate", "--bot-share", BOT_SHARE, "--rate"])
                .arg(BUSY_RATE.to_string())
                .arg("--duration")
                .arg(format!("{secs}s"))
                .arg("--seed")
                .arg((seed + 1 + i as u64).to_string())
                .arg("-o")
                .arg(file)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect()
}

/// The idle window: CPU over `secs` with every file quiet.
fn idle_window(daemon: &Daemon, secs: u64) -> Value {
    let (ns0, threads0) = schedstat_ns(daemon.pid);
    let ticks0 = daemon.cpu_secs();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let (ns1, threads1) = schedstat_ns(daemon.pid);
    let ticks1 = daemon.cpu_secs();
    let window = started.elapsed().as_secs_f64();
    let cpu = ns1.saturating_sub(ns0) as f64 / 1e9;
    json!({
        "idle_window_secs": window,
        "idle_cpu_secs": cpu,
        "idle_cpu_secs_per_hour": cpu * 3600.0 / window,
        "idle_core_percent": cpu * 100.0 / window,
        "idle_cpu_secs_utime_stime": ticks1 - ticks0,
        "idle_threads": [threads0, threads1],
        "idle_peak_rss_kib": daemon.hwm_kib(),
    })
}

/// Row 5: start-up over 1,000 quiet files, an idle window, then 10 busy files.
pub(crate) fn many_files(args: &Args, work: &Path, w: &Workload, mode: Mode) -> Value {
    let m = w.many.as_ref().unwrap();
    for file in &m.busy {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, b"").unwrap();
    }
    let dir = run_dir(work, w.row, mode);
    let endpoint = start_endpoint(args, &dir, w, mode);
    let (config, cfg) = agent_json(&dir, &endpoint, w);
    let daemon_argv = Daemon::argv(mode.daemon_core(args), &[], &config);
    let load_before = loadavg();
    let started = Instant::now();
    let daemon = Daemon::spawn(&daemon_argv, &dir, None);
    let quiet = (m.quiet_bytes, Some(m.quiet_lines));
    let startup = match wait_delivered(args, &endpoint, &daemon, quiet.0, quiet.1, started) {
        Ok(done) => done,
        Err(why) => return fail(w, mode, &dir, daemon, endpoint, &why),
    };
    let startup_cpu = daemon.cpu_secs();
    std::thread::sleep(Duration::from_secs(SETTLE_SECS));
    let mut result = idle_window(&daemon, args.matrix.idle_secs);

    // Busy: pinned, the writers share the endpoint's core, so the daemon's is its own.
    let cpu0 = daemon.cpu_secs();
    let busy_started = Instant::now();
    let writers = start_writers(&m.busy, m.busy_secs, args.seed, mode.endpoint_core(args));
    for mut writer in writers {
        assert!(writer.wait().unwrap().success(), "a busy writer failed");
    }
    let writing_secs = busy_started.elapsed().as_secs_f64();
    let (busy_bytes, busy_lines) = m
        .busy
        .iter()
        .map(|f| count_lines(f))
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let (bytes, lines) = (m.quiet_bytes + busy_bytes, m.quiet_lines + busy_lines);
    let done = match wait_delivered(args, &endpoint, &daemon, bytes, Some(lines), busy_started) {
        Ok(done) => done,
        Err(why) => return fail(w, mode, &dir, daemon, endpoint, &why),
    };
    let busy_cpu = daemon.cpu_secs() - cpu0;
    let hwm = daemon.hwm_kib();
    let load_after = loadavg();
    let time_v = daemon.stop();
    let final_stats = stats(endpoint.addr).unwrap_or_default();
    let endpoint_argv = endpoint.argv.clone();
    endpoint.stop();
    let more = json!({
        "row": w.row,
        "mode": mode.name(),
        "inputs": w.inputs,
        "bytes": bytes,
        "lines": lines,
        "records_expected": lines,
        "records_accepted": done.records,
        "bytes_accepted": done.bytes,
        "records_accepted_at_stop": final_stats["records_accepted"],
        "startup_secs": startup.secs,
        "startup_cpu_secs": startup_cpu,
        "busy_writing_secs": writing_secs,
        "busy_bytes": busy_bytes,
        "busy_lines": busy_lines,
        "busy_delivered_secs": done.secs,
        "mib_per_sec": mib(busy_bytes as f64) / done.secs,
        "lines_per_sec": busy_lines as f64 / done.secs,
        "records_per_sec": busy_lines as f64 / done.secs,
        "busy_cpu_secs": busy_cpu,
        "cpu_secs_per_gib": busy_cpu / gib(busy_bytes as f64),
        "peak_rss_kib": hwm,
        "time_v": time_v,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "endpoint_argv": endpoint_argv,
        "daemon_argv": daemon_argv,
        "agent_json": cfg,
        "endpoint_stats": final_stats,
    });
    for (k, v) in more.as_object().unwrap() {
        result[k] = v.clone();
    }
    result
}
