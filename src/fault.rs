//! Test-only faults, compiled into debug builds only (`cfg(debug_assertions)`): the
//! release binary the packages ship has no trace of this module, so no environment,
//! signal or file can trigger it in production.
//!
//! `FIRETAIL_TEST_FAULT=wedge-on-sigusr2` makes `firetail run` block every worker thread
//! of its async runtime when it receives SIGUSR2: the process stays alive but stops
//! answering anything (health endpoints, the systemd watchdog, signals it handles), which
//! is what the watchdog exists to catch. `scripts/test-packages` uses it to prove that
//! systemd restarts such a daemon; `tests/it/sd_notify.rs` proves the pings stop.

use std::time::Duration;

/// The environment variable naming the fault to arm.
pub const FAULT_ENV: &str = "FIRETAIL_TEST_FAULT";
/// Its one value: wedge the runtime at SIGUSR2.
pub const WEDGE_ON_SIGUSR2: &str = "wedge-on-sigusr2";

/// Arms the fault named by [`FAULT_ENV`], if any. Call from inside the runtime.
pub fn arm() {
    match std::env::var(FAULT_ENV).as_deref() {
        Ok(WEDGE_ON_SIGUSR2) => {
            tracing::warn!("test fault armed: SIGUSR2 wedges the runtime (debug build only)");
            tokio::spawn(wedge_on_sigusr2());
        }
        Ok(other) => tracing::warn!("unknown {FAULT_ENV}={other:?}; no fault armed"),
        Err(_) => {}
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
