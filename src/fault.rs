//! Test-only faults, compiled into debug builds only (`cfg(debug_assertions)`): the
//! release binary the packages ship has no trace of this module, so no environment,
//! signal or file can trigger it in production.
//!
//! `FIRETAIL_TEST_FAULT=wedge-on-sigusr2` makes `firetail run` block every worker thread
//! of its async runtime when it receives SIGUSR2: the process stays alive but stops
//! answering anything (health endpoints, the systemd watchdog, signals it handles), which
//! is what the watchdog exists to catch. `scripts/test-packages` uses it to prove that
//! systemd restarts such a daemon; `tests/it/sd_notify.rs` proves the pings stop.
//!
//! `FIRETAIL_TEST_FAULT=abort-stage-on-sigusr2:<tail|process|sink>` aborts that stage's
//! task in every flow when SIGUSR2 arrives: how `tests/it/daemon_supervision.rs` proves
//! that a stage ending while the daemon runs is reported (ERROR, `/health/ready`,
//! `firetail_flow_up`).
//!
//! `FIRETAIL_TEST_FAULT=read-time-days-ago:<days>` stamps every record as read that many
//! days ago: how `tests/it/cloudwatch_logs.rs` makes CloudWatch Logs refuse events as too
//! old (more than 14 days), which a file read now cannot otherwise produce.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::task::AbortHandle;

/// The environment variable naming the fault to arm.
pub const FAULT_ENV: &str = "FIRETAIL_TEST_FAULT";
/// Wedge the runtime at SIGUSR2.
pub const WEDGE_ON_SIGUSR2: &str = "wedge-on-sigusr2";
/// Followed by a stage name: abort that stage's tasks at SIGUSR2.
pub const ABORT_STAGE_ON_SIGUSR2: &str = "abort-stage-on-sigusr2:";

/// Followed by a number of days: records are stamped as read that long ago.
pub const READ_TIME_DAYS_AGO: &str = "read-time-days-ago:";

/// How far back records' read times are shifted, in ms (0: not at all).
static READ_TIME_SHIFT_MILLIS: AtomicI64 = AtomicI64::new(0);

/// How far back [`READ_TIME_DAYS_AGO`] shifts records' read times, in ms.
pub fn read_time_shift_millis() -> i64 {
    READ_TIME_SHIFT_MILLIS.load(Ordering::Relaxed)
}

/// Every stage task spawned so far, by stage name (debug builds only; never pruned,
/// aborting a finished task does nothing).
static STAGES: Mutex<Vec<(&'static str, AbortHandle)>> = Mutex::new(Vec::new());

/// Makes a stage task abortable by [`ABORT_STAGE_ON_SIGUSR2`].
pub fn register_stage(stage: &'static str, handle: AbortHandle) {
    if let Ok(mut stages) = STAGES.lock() {
        stages.push((stage, handle));
    }
}

/// Aborts every registered task of `stage`; returns how many.
pub fn abort_stages(stage: &str) -> usize {
    let Ok(stages) = STAGES.lock() else { return 0 };
    let mut n = 0;
    for (_, handle) in stages.iter().filter(|(s, _)| *s == stage) {
        handle.abort();
        n += 1;
    }
    n
}

/// Arms the fault named by [`FAULT_ENV`], if any. Call from inside the runtime.
pub fn arm() {
    match std::env::var(FAULT_ENV).as_deref() {
        Ok(WEDGE_ON_SIGUSR2) => {
            tracing::warn!("test fault armed: SIGUSR2 wedges the runtime (debug build only)");
            tokio::spawn(wedge_on_sigusr2());
        }
        Ok(other) if other.starts_with(ABORT_STAGE_ON_SIGUSR2) => {
            let stage = other[ABORT_STAGE_ON_SIGUSR2.len()..].to_owned();
            tracing::warn!(
                "test fault armed: SIGUSR2 aborts every {stage} stage task (debug build only)"
            );
            tokio::spawn(abort_stage_on_sigusr2(stage));
        }
        Ok(other) if other.starts_with(READ_TIME_DAYS_AGO) => {
            match other[READ_TIME_DAYS_AGO.len()..].parse::<i64>() {
                Ok(days) => {
                    tracing::warn!(
                        "test fault armed: records are stamped as read {days} days ago (debug build only)"
                    );
                    READ_TIME_SHIFT_MILLIS
                        .store(days.saturating_mul(86_400_000), Ordering::Relaxed);
                }
                Err(_) => tracing::warn!("bad {FAULT_ENV}={other:?}; no fault armed"),
            }
        }
        Ok(other) => tracing::warn!("unknown {FAULT_ENV}={other:?}; no fault armed"),
        Err(_) => {}
    }
}

async fn abort_stage_on_sigusr2(stage: String) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut usr2) = signal(SignalKind::user_defined2()) else {
        tracing::error!("test fault: cannot listen for SIGUSR2");
        return;
    };
    while usr2.recv().await.is_some() {
        let n = abort_stages(&stage);
        tracing::warn!("test fault: SIGUSR2 received, aborted {n} {stage} stage task(s)");
    }
}

async fn wedge_on_sigusr2() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut usr2) = signal(SignalKind::user_defined2()) else {
        tracing::error!("test fault: cannot listen for SIGUSR2");
        return;
    };
    if usr2.recv().await.is_none() {
        return;
    }
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    tracing::warn!("test fault: SIGUSR2 received, blocking all {workers} runtime workers");
    // One task per worker that never yields. This task returns first, so the worker
    // running it picks up one of them; idle workers steal the others.
    for _ in 0..workers {
        tokio::spawn(async {
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        });
    }
}
