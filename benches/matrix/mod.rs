//! The workload matrix (`scripts/bench --matrix`): the real `firetail run` on several
//! workloads, each run **unpinned** (daemon and endpoint free on every core, as deployed)
//! and **pinned** (daemon on `--daemon-core`, endpoint on `--endpoint-core`).
//!
//! Rows (`--rows` picks some, by name; `--size` scales every input):
//! 1. `combined`: one file of Apache combined lines averaging about 186 bytes
//!    (`firetail generate --bot-share 0.82`: crawler lines are shorter, and 82 % of them
//!    bring the generator's 251-byte average down to 186).
//! 2. `json5k`: one file of JSON application-log lines of exactly 5,120 bytes.
//! 3. `lines64k`: one file of lines of exactly 65,536 bytes.
//! 4. `aggregated`: `aggregatedRecordSizeBytes` 1000000 on lines of exactly 200 bytes.
//! 5. `many-files`: 1,000 quiet files plus 10 written at 2,000 lines/s each, one flow on
//!    `logs/*/access.log*`: CPU per hour while all are quiet, CPU per GiB while the 10 are
//!    busy, peak RSS over the whole row.
//! 6. `four-flows`: four flows on one daemon, each on its own name for row 1's file (hard
//!    links: the disk holds one copy): two Firehose, two Kinesis Data Streams (RANDOM and
//!    DETERMINISTIC partition keys). Rows `kinesis-random` and `kinesis-deterministic` (6a,
//!    6b) are row 1 with one Kinesis flow instead of the Firehose one, for the Kinesis ÷
//!    Firehose CPU per GiB ratio.
//! 7. `slow-endpoint`: row 1 against `local-firehose --latency lognormal:median=80ms,p99=400ms`.
//!
//! Every flow uses the daemon's defaults except the keys its row is about, plus
//! `maxBufferAgeMillis` 1000 (so the last partial batch does not dominate a short run) and
//! the plumbing a benchmark needs: endpoints, dummy credentials, region, its own checkpoint
//! file, `initialPosition` START_OF_FILE (the input is written before the daemon starts),
//! `cloudwatch.emitMetrics` false (nothing may leave 127.0.0.1) and the Prometheus endpoint
//! on a free port instead of 9898 (on, as by default, without colliding with another
//! daemon on the host). The report prints each row's agent.json flows and command lines.
//!
//! How each figure is measured, besides what `benches/e2e.rs` says:
//! - A row ends when the endpoint's `/stats` show every byte of every input accepted (and,
//!   where each line is one record, every line); it fails loudly when nothing more arrives
//!   for `--stall-secs` (default 120) or when the daemon exits.
//! - **daemon CPU ÷ sha256sum CPU**: `sha256sum` on the row's input file, just before the
//!   daemon, with the daemon's pinning (rows with one input file only).
//! - **many-files idle CPU**: the sum of `/proc/<pid>/task/*/schedstat` run times over
//!   `--idle-secs` (default 60) of quiet, starting `SETTLE_SECS` after the pre-written lines
//!   were delivered; utime + stime over the same window is kept as a cross-check (it also
//!   counts threads that exit within the window, which schedstat cannot).

use std::path::PathBuf;

use serde_json::{json, Value};

use super::{baseline, chrono_stamp, host_facts, loadavg, Args, GIB, MIB};

mod inputs;
mod report;
mod runs;

/// Every row, in the order they run and are reported.
pub(crate) const ROWS: [&str; 9] = [
    "combined",
    "json5k",
    "lines64k",
    "aggregated",
    "many-files",
    "four-flows",
    "kinesis-random",
    "kinesis-deterministic",
    "slow-endpoint",
];

/// The `--matrix` options.
pub(crate) struct MatrixArgs {
    pub(crate) enabled: bool,
    /// `--rows a,b`: a subset of [`ROWS`].
    pub(crate) rows: Option<Vec<String>>,
    /// `--modes unpinned,pinned`.
    pub(crate) modes: Option<Vec<String>>,
    /// `--idle-secs`: the many-files quiet window.
    pub(crate) idle_secs: u64,
    /// `--busy-secs`: how long the 10 busy files are written (default scales with --size).
    pub(crate) busy_secs: Option<u64>,
    /// `--stall-secs`: a row fails when nothing is delivered for this long.
    pub(crate) stall_secs: u64,
    /// `--keep-inputs`: keep every row's input for the next run (only row 1's by default).
    pub(crate) keep_inputs: bool,
}

impl Default for MatrixArgs {
    fn default() -> Self {
        MatrixArgs {
            enabled: false,
            rows: None,
            modes: None,
            idle_secs: 60,
            busy_secs: None,
            stall_secs: 120,
            keep_inputs: false,
        }
    }
}

/// Where the daemon and the endpoint may run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// No affinity: both use every core, as deployed.
    Unpinned,
    /// Daemon on `--daemon-core`, endpoint on `--endpoint-core`.
    Pinned,
}

impl Mode {
    fn parse(s: &str) -> Mode {
        match s {
            "unpinned" => Mode::Unpinned,
            "pinned" => Mode::Pinned,
            other => panic!("unknown mode {other:?} (unpinned or pinned)"),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Unpinned => "unpinned",
            Mode::Pinned => "pinned",
        }
    }

    /// The daemon's core (also `sha256sum`'s and the writers' in many-files: see there).
    pub(crate) fn daemon_core(self, args: &Args) -> Option<&str> {
        (self == Mode::Pinned).then_some(args.daemon_core.as_str())
    }

    pub(crate) fn endpoint_core(self, args: &Args) -> Option<&str> {
        (self == Mode::Pinned).then_some(args.endpoint_core.as_str())
    }
}

/// The rows and modes asked for, checked.
fn selection(args: &Args) -> (Vec<&'static str>, Vec<Mode>) {
    let rows = match &args.matrix.rows {
        None => ROWS.to_vec(),
        Some(names) => {
            for n in names {
                assert!(
                    ROWS.contains(&n.as_str()),
                    "unknown row {n:?}; rows: {}",
                    ROWS.join(",")
                );
            }
            ROWS.iter()
                .copied()
                .filter(|r| names.iter().any(|n| n == r))
                .collect()
        }
    };
    let modes = match &args.matrix.modes {
        None => vec![Mode::Unpinned, Mode::Pinned],
        Some(names) => names.iter().map(|n| Mode::parse(n)).collect(),
    };
    (rows, modes)
}

/// The whole matrix: inputs, runs, report.
pub(crate) fn run(args: &Args) {
    let (rows, modes) = selection(args);
    let work = args.work.join("matrix");
    std::fs::create_dir_all(&work).unwrap();
    let started = std::time::Instant::now();
    let host = host_facts();
    eprintln!(
        "matrix: rows {}, modes {:?}, size {} MiB, work dir {}",
        rows.join(","),
        modes,
        args.size >> 20,
        work.display()
    );
    let combined = inputs::combined(args, &work);
    let baselines: Vec<Value> = modes
        .iter()
        .flat_map(|m| {
            ["sha256sum", "base64"].map(|tool| {
                let mut b = baseline(tool, &combined.path, m.daemon_core(args));
                b["mode"] = json!(m.name());
                b
            })
        })
        .collect();
    let mut results = Vec::new();
    for row in &rows {
        eprintln!("matrix: row {row} (load average {})", loadavg());
        let workload = inputs::workload(args, &work, row, &combined);
        for mode in &modes {
            let result = if *row == "many-files" {
                runs::many_files(args, &work, &workload, *mode)
            } else {
                runs::throughput(args, &work, &workload, *mode)
            };
            results.push(result);
        }
        workload.remove_inputs(args.matrix.keep_inputs);
    }
    // Row 1's input stays for the next run (its name holds size and seed), as the
    // single-run mode's does.
    eprintln!("matrix: kept {} for the next run", combined.path.display());
    let report = json!({
        "host": host,
        "loadavg_end": loadavg(),
        "size": args.size,
        "seed": args.seed,
        "modes": modes.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "rows": rows,
        "combined_input": combined.describe(),
        "baselines": baselines,
        "results": results,
        "matrix_secs": started.elapsed().as_secs_f64(),
        "kinesis_vs_firehose": report::kinesis_ratios(&results),
    });
    let stamp = chrono_stamp();
    let out: PathBuf = args.out.join(format!("matrix-{stamp}.json"));
    std::fs::write(&out, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    report::print(args, &report);
    println!("\nraw: {}", out.display());
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| {
            Some(format!(
                "{} {}: {}",
                r["row"],
                r["mode"],
                r["failed"].as_str()?
            ))
        })
        .collect();
    if !failed.is_empty() {
        eprintln!(
            "\nmatrix: {} run(s) did NOT deliver every line:",
            failed.len()
        );
        for f in &failed {
            eprintln!("  {f}");
        }
        std::process::exit(1);
    }
}

/// File bytes in MiB and GiB, for the reports.
pub(crate) fn mib(bytes: f64) -> f64 {
    bytes / MIB
}

pub(crate) fn gib(bytes: f64) -> f64 {
    bytes / GIB
}
