//! `run()` end to end: reproducible bytes, outputs, and clear errors.

use std::path::Path;

use firetail_generate::{run, Error, GeneratorConfig};

use crate::args;

fn generate_to(path: &Path, seed: &str) -> Vec<u8> {
    let out = path.to_str().unwrap();
    let summary = run(&args(&[
        "--rate",
        "max",
        "--count",
        "20000",
        "--seed",
        seed,
        "--start-time",
        "2026-11-25T13:55:36Z",
        "-o",
        out,
    ]))
    .unwrap();
    assert_eq!(summary.lines, 20_000);
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(summary.bytes, bytes.len() as u64);
    bytes
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let a = generate_to(&dir.path().join("a.log"), "42");
    let b = generate_to(&dir.path().join("b.log"), "42");
    let c = generate_to(&dir.path().join("c.log"), "43");
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(std::str::from_utf8(&a)
        .unwrap()
        .starts_with(|c: char| c.is_ascii_digit()));
    // Simulated timestamps start at --start-time (minus the request's duration).
    let first = std::str::from_utf8(&a).unwrap().lines().next().unwrap();
    assert!(first.contains("/Nov/2026:13:5"), "{first}");
}

#[test]
fn vhosts_write_one_file_each() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("access.log");
    let summary = run(&args(&[
        "--rate",
        "max",
        "--count",
        "3000",
        "--seed",
        "1",
        "--vhosts",
        "3",
        "-o",
        base.to_str().unwrap(),
    ]))
    .unwrap();
    let mut total = 0;
    for name in ["access-www.log", "access-shop.log", "access-blog.log"] {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        let host = name.trim_start_matches("access-").trim_end_matches(".log");
        // Internal referers name the file's own virtual host.
        assert!(
            text.contains(&format!("https://{host}.example.com/")),
            "{name}"
        );
        total += text.lines().count();
    }
    assert_eq!(total as u64, summary.lines);
    assert_eq!(summary.files_written.len(), 3);
}

#[test]
fn nonsense_values_exit_2_and_io_failures_exit_1() {
    let err = run(&args(&["--malformed-rate", "2", "--count", "1"])).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidArg {
            flag: "malformed-rate",
            ..
        }
    ));
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("malformed-rate"), "{err}");

    let err = run(&args(&[
        "--count",
        "1",
        "-o",
        "/nonexistent-dir/x/access.log",
    ]))
    .unwrap_err();
    assert!(matches!(err, Error::Open { .. }), "{err}");
    assert!(
        err.to_string().contains("/nonexistent-dir/x/access.log"),
        "{err}"
    );
    assert_eq!(err.exit_code(), 1);
}

#[test]
fn full_disk_reports_the_file_and_leaves_no_partial_line() {
    if !Path::new("/dev/full").exists()
        && firetail_testkit::unavailable("generate: a full disk", "/dev/full does not exist")
    {
        return;
    }
    let err = run(&args(&[
        "--rate",
        "max",
        "--count",
        "5000",
        "-o",
        "/dev/full",
    ]))
    .unwrap_err();
    assert!(
        matches!(err, Error::Write { ref path, .. } if path == Path::new("/dev/full")),
        "{err}"
    );
    assert_eq!(err.exit_code(), 1);
}

#[test]
fn deleted_directory_is_a_clear_rotation_error() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("logs");
    std::fs::create_dir(&sub).unwrap();
    let path = sub.join("access.log");
    let mut cfg = GeneratorConfig::from_args(&args(&[
        "--rate",
        "max",
        "--count",
        "200000",
        "--rotate-size",
        "100K",
        "-o",
        path.to_str().unwrap(),
    ]))
    .unwrap();
    let sub_for_hook = sub.clone();
    // Delete the directory under the writer at its first rotation.
    cfg.on_rotate = Some(std::sync::Arc::new(
        move |_r: &firetail_generate::Rotation| {
            let _ = std::fs::remove_dir_all(&sub_for_hook);
        },
    ));
    let err = firetail_generate::run_config(&cfg, &std::sync::atomic::AtomicBool::new(false))
        .unwrap_err();
    assert!(
        matches!(err, Error::Rotate { .. } | Error::Open { .. }),
        "unexpected: {err}"
    );
    assert!(err.to_string().contains("access.log"), "{err}");
}

#[test]
fn stop_flag_ends_a_paced_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = GeneratorConfig::from_args(&args(&[
        "--rate",
        "1000",
        "-o",
        dir.path().join("a.log").to_str().unwrap(),
    ]))
    .unwrap();
    let progress = cfg.progress.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handle = firetail_generate::spawn(cfg, stop.clone());
    while progress.lines.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let summary = handle.join().unwrap().unwrap();
    let written = std::fs::read_to_string(dir.path().join("a.log")).unwrap();
    assert_eq!(written.lines().count() as u64, summary.lines);
    assert!(written.ends_with('\n'));
}

#[test]
fn paced_run_with_start_time_follows_the_simulated_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paced.log");
    // 2000 lines at 50k/s: 40 ms of wall time, 40 ms of log time from 13:55:36.
    let summary = run(&args(&[
        "--rate",
        "50000",
        "--count",
        "2000",
        "--seed",
        "4",
        "--start-time",
        "2026-11-25T13:55:36Z",
        "-o",
        path.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(summary.lines, 2_000);
    let text = std::fs::read_to_string(&path).unwrap();
    for line in text.lines() {
        // Start time = finish (13:55:36.000 to .040) minus at most 120 s of duration.
        let t = &line[line.find('[').unwrap() + 13..line.find(']').unwrap() - 6];
        assert!(("13:53:36"..="13:55:36").contains(&t), "{line}");
    }
}
