//! The matrix's Markdown report: host, baselines, one table for every row and mode, the
//! many-files and Kinesis figures, and every row's command lines.

use serde_json::{json, Value};

use super::super::{num, Args, MIB};
use super::ROWS;

/// The numbering of a row.
fn number(row: &str) -> &'static str {
    match row {
        "combined" => "1",
        "json5k" => "2",
        "lines64k" => "3",
        "aggregated" => "4",
        "many-files" => "5",
        "four-flows" => "6",
        "kinesis-random" => "6a",
        "kinesis-deterministic" => "6b",
        "slow-endpoint" => "7",
        _ => "?",
    }
}

/// Kinesis CPU per GiB ÷ Firehose CPU per GiB (row 1), per mode and key option.
pub(crate) fn kinesis_ratios(results: &[Value]) -> Value {
    let find = |row: &str, mode: &str| {
        results
            .iter()
            .find(|r| r["row"] == row && r["mode"] == mode)
            .and_then(|r| r["cpu_secs_per_gib"].as_f64())
    };
    let mut out = serde_json::Map::new();
    for mode in ["unpinned", "pinned"] {
        let Some(firehose) = find("combined", mode) else {
            continue;
        };
        let ratio = |row| find(row, mode).map(|k| k / firehose);
        out.insert(
            mode.into(),
            json!({
                "firehose_cpu_secs_per_gib": firehose,
                "random": ratio("kinesis-random"),
                "deterministic": ratio("kinesis-deterministic"),
            }),
        );
    }
    Value::Object(out)
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("?")
}

/// `v` with `digits` decimals, or `-` when absent.
fn fmt(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}

/// A command line with the arguments that need it quoted for a POSIX shell.
fn shell(argv: &Value) -> String {
    argv.as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    let s = text(s);
                    if s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,".contains(&b))
                    {
                        s.to_string()
                    } else {
                        format!("'{}'", s.replace('\'', "'\\''"))
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

pub(crate) fn print(args: &Args, r: &Value) {
    let host = &r["host"];
    println!("## firetail workload matrix\n");
    println!(
        "host: {} ({} CPUs); load average {} at start, {} at end; --size {} MiB, seed {}; the matrix took {:.1} min\n",
        text(&host["cpu"]),
        host["nproc"],
        text(&host["loadavg_start"]),
        text(&r["loadavg_end"]),
        args.size >> 20,
        args.seed,
        num(&r["matrix_secs"]) / 60.0,
    );
    println!(
        "Every flow: the daemon's defaults except its row's keys, plus `maxBufferAgeMillis` 1000 \
         in every row (so the last partial batch does not dominate a short run) and the plumbing \
         (endpoints, dummy credentials, region, checkpoint file, `initialPosition` START_OF_FILE, \
         `cloudwatch.emitMetrics` false, Prometheus on a free port). unpinned: daemon and \
         endpoint free on every core, as deployed; pinned: daemon on core {}, endpoint on core {}; \
         `sha256sum` runs with the daemon's pinning.\n",
        args.daemon_core, args.endpoint_core
    );
    print_baselines(r);
    print_rows(r);
    print_many_files(r);
    print_kinesis(r);
    print_commands(args, r);
}

fn print_baselines(r: &Value) {
    let input = &r["combined_input"];
    println!(
        "Row 1's file: {:.0} MiB, {} lines, {:.1} bytes per line on average.\n",
        num(&input["bytes"]) / MIB,
        input["lines"],
        num(&input["avg_line_bytes"])
    );
    println!("| same file through | mode | MiB/s | CPU s | load |");
    println!("| --- | --- | --- | --- | --- |");
    for b in r["baselines"].as_array().into_iter().flatten() {
        println!(
            "| `{}` | {} | {} | {} | {} |",
            text(&b["tool"]),
            text(&b["mode"]),
            fmt(&b["mib_per_sec"], 0),
            fmt(&b["cpu_secs"], 2),
            text(&b["loadavg"])
        );
    }
    println!();
}

fn print_rows(r: &Value) {
    println!("| # | row | mode | MiB/s | lines/s | records/s | daemon CPU s/GiB | peak RSS MiB | daemon CPU ÷ `sha256sum` CPU (s) | load before → after |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for x in r["results"].as_array().into_iter().flatten() {
        let row = text(&x["row"]);
        if let Some(why) = x["failed"].as_str() {
            println!(
                "| {} | {row} | {} | **FAILED: not every line was delivered** ({why}) | | | | | | |",
                number(row),
                text(&x["mode"])
            );
            continue;
        }
        let ratio = match x["cpu_ratio_to_sha256sum"].as_f64() {
            Some(q) => format!(
                "{q:.2} ({} ÷ {})",
                fmt(&x["daemon_cpu_secs"], 2),
                fmt(&x["sha256sum"]["cpu_secs"], 2)
            ),
            None => "-".into(),
        };
        let busy = if row == "many-files" { " (busy)" } else { "" };
        println!(
            "| {} | {row} | {} | {}{busy} | {:.0} | {:.0} | {}{busy} | {:.1} | {ratio} | {} → {} |",
            number(row),
            text(&x["mode"]),
            fmt(&x["mib_per_sec"], 1),
            num(&x["lines_per_sec"]),
            num(&x["records_per_sec"]),
            fmt(&x["cpu_secs_per_gib"], 2),
            num(&x["peak_rss_kib"]) / 1024.0,
            text(&x["loadavg_before"]),
            text(&x["loadavg_after"]),
        );
    }
    println!();
}

fn print_many_files(r: &Value) {
    let rows: Vec<&Value> = r["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| x["row"] == "many-files" && x["failed"].is_null())
        .collect();
    if rows.is_empty() {
        return;
    }
    println!("Row 5, many-files (1,000 quiet files, then 10 busy at 2,000 lines/s each):\n");
    println!("| mode | idle CPU s per hour (% of a core), schedstat | idle, utime+stime | idle window s | busy CPU s/GiB | busy GiB | start-up s | peak RSS MiB (idle / whole row) |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for x in rows {
        println!(
            "| {} | {} ({}%) | {} s | {} | {} | {:.3} | {} | {:.1} / {:.1} |",
            text(&x["mode"]),
            fmt(&x["idle_cpu_secs_per_hour"], 1),
            fmt(&x["idle_core_percent"], 3),
            fmt(&x["idle_cpu_secs_utime_stime"], 2),
            fmt(&x["idle_window_secs"], 0),
            fmt(&x["cpu_secs_per_gib"], 2),
            num(&x["busy_bytes"]) / (MIB * 1024.0),
            fmt(&x["startup_secs"], 1),
            num(&x["idle_peak_rss_kib"]) / 1024.0,
            num(&x["peak_rss_kib"]) / 1024.0,
        );
    }
    println!();
}

fn print_kinesis(r: &Value) {
    let Some(modes) = r["kinesis_vs_firehose"]
        .as_object()
        .filter(|m| !m.is_empty())
    else {
        return;
    };
    println!("Kinesis Data Streams ÷ Firehose, daemon CPU s per GiB on row 1's file (rows 6a, 6b ÷ row 1):\n");
    println!("| mode | Firehose CPU s/GiB | RANDOM keys | DETERMINISTIC keys |");
    println!("| --- | --- | --- | --- |");
    for (mode, v) in modes {
        println!(
            "| {mode} | {} | {} | {} |",
            fmt(&v["firehose_cpu_secs_per_gib"], 2),
            fmt(&v["random"], 2),
            fmt(&v["deterministic"], 2)
        );
    }
    println!();
}

fn print_commands(args: &Args, r: &Value) {
    println!("### Commands\n");
    println!("Row 1's file: `{}`\n", text(&r["combined_input"]["how"]));
    let results = r["results"].as_array().cloned().unwrap_or_default();
    for row in ROWS {
        let runs: Vec<&Value> = results
            .iter()
            .filter(|x| x["row"] == row && x["failed"].is_null())
            .collect();
        let Some(first) = runs.first() else { continue };
        println!(
            "**{} {row}**: `scripts/bench --matrix --rows {row} --size {}M --seed {}`\n",
            number(row),
            args.size >> 20,
            args.seed
        );
        for input in first["inputs"].as_array().into_iter().flatten() {
            if let Some(how) = input["how"].as_str() {
                println!("- input: `{how}`");
            }
        }
        for x in &runs {
            println!(
                "- {} endpoint: `{}`",
                text(&x["mode"]),
                shell(&x["endpoint_argv"])
            );
            println!(
                "- {} daemon: `{}`",
                text(&x["mode"]),
                shell(&x["daemon_argv"])
            );
        }
        println!(
            "- flows: `{}`\n",
            serde_json::to_string(&first["agent_json"]["flows"]).unwrap_or_default()
        );
    }
}
