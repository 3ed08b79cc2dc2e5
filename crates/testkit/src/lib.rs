//! What every firetail test suite shares, so each rule has one home:
//!
//! - [`vectors_dir`]: the Kinesis Agent's own input-to-output cases, copied into the
//!   repository (`tests/vectors`), so a clone tests on its own.
//! - [`unavailable`]: the one way a test may step aside when the machine lacks what it
//!   needs (logrotate, root, `/dev/full`). On a developer's machine it prints why and the
//!   test returns; where `FIRETAIL_NO_SKIP` is set (`.ci/run` sets it) it fails the test
//!   instead, naming what was missing, so CI never goes green on a test that did not run.
//! - [`is_root`]: whether the tests run as root (mounting a tmpfs, dropping privileges).

use std::path::PathBuf;

/// `tests/vectors` at the root of the repository.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

/// Call when `test` cannot run here because `missing`; returns true when the caller
/// should return (a developer's machine). Panics under `FIRETAIL_NO_SKIP`.
#[must_use]
pub fn unavailable(test: &str, missing: &str) -> bool {
    if std::env::var_os("FIRETAIL_NO_SKIP").is_some_and(|v| !v.is_empty() && v != "0") {
        panic!("{test}: cannot run here: {missing} (FIRETAIL_NO_SKIP is set: a skipped test is a failed one)");
    }
    eprintln!("NOTICE: {test} skipped: {missing}");
    true
}

/// True when the tests run as root.
pub fn is_root() -> bool {
    // The effective uid, from /proc (no libc dependency here).
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0")
}
