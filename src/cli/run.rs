//! `firetail run`: the daemon, under systemd or by hand.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cli::{check_config, EXIT_RUNTIME};
use crate::{agent_env, sd_notify};

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: crate::cli::ConfigArg,
}

pub fn run(args: RunArgs) -> ExitCode {
    // Before the runtime starts any thread: this may set environment variables.
    take_agent_environment(args.config.path());
    let settings = match check_config::load_and_validate(args.config.path()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // Under systemd, the paths this configuration needs against the unit's sandbox.
    if let Some(unit) = crate::sandbox::own_unit() {
        check_config::warn_of_sandbox(&settings, &unit);
    }
    let rt = match crate::cli::daemon_runtime(settings.worker_threads) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let shutdown = CancellationToken::new();
        let (reload_tx, reload_rx) = mpsc::channel(1);
        tokio::spawn(handle_signals(
            shutdown.clone(),
            reload_tx,
            args.config.path.clone(),
        ));
        #[cfg(debug_assertions)]
        crate::fault::arm();
        let watchdog_stop = CancellationToken::new();
        let hooks = crate::daemon::Hooks {
            ready: Some(Box::new({
                let watchdog_stop = watchdog_stop.clone();
                move |_| on_ready(watchdog_stop)
            })),
            reload: Some(reload_rx),
            status: Some(Box::new(|snapshot| {
                // `systemctl status` shows it as "Status: ..."; a no-op outside systemd.
                if let Err(e) = sd_notify::status(&snapshot.one_line()) {
                    tracing::debug!("sd_notify STATUS= failed: {e}");
                }
            })),
        };
        let result = crate::daemon::run(settings, shutdown, hooks).await;
        watchdog_stop.cancel();
        match result {
            Ok(report) => {
                tracing::info!(
                    sent = report.records_sent,
                    parsed = report.records_parsed,
                    abandoned = report.abandoned,
                    "firetail stopped"
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!("firetail failed: {e:#}");
                ExitCode::from(EXIT_RUNTIME)
            }
        }
    })
}

/// Reads the Kinesis Agent's environment file when running from the agent's
/// configuration (see `agent_env`), and says in the log what was taken.
fn take_agent_environment(explicit: Option<&std::path::Path>) {
    let candidates = firetail_config::default_config_candidates();
    let Ok(config) = firetail_config::resolve_config_path(explicit, &candidates) else {
        return; // load_and_validate reports it
    };
    let override_var = std::env::var(agent_env::AGENT_ENV_FILE_VAR).ok();
    let Some(path) = agent_env::file_for(&config, override_var.as_deref()) else {
        return;
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            for line in agent_env::apply(&agent_env::read(&path, &text)) {
                tracing::info!("{line}");
            }
        }
        Err(e) => tracing::warn!(
            "cannot read the Kinesis Agent's environment file {}: {e}; nothing taken from it",
            path.display()
        ),
    }
}

/// Tells systemd the daemon is up and starts feeding its watchdog from the runtime: a
/// wedged runtime stops the pings and systemd restarts the service.
fn on_ready(watchdog_stop: CancellationToken) {
    if let Err(e) = sd_notify::ready() {
        tracing::warn!("sd_notify READY=1 failed: {e}");
    }
    if let Some(interval) = sd_notify::watchdog_interval() {
        tokio::spawn(sd_notify::watchdog_loop(interval, || true, watchdog_stop));
    }
}

/// SIGTERM and SIGINT start the ordered shutdown; SIGHUP re-reads the configuration
/// and hands it to the daemon (an invalid one is reported and ignored).
async fn handle_signals(
    shutdown: CancellationToken,
    reload: mpsc::Sender<firetail_config::Settings>,
    config: Option<PathBuf>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers; stop firetail with SIGKILL");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM received"); break; }
            _ = int.recv() => { tracing::info!("SIGINT received"); break; }
            _ = hup.recv() => {
                tracing::info!("SIGHUP received: reloading the configuration");
                let _ = sd_notify::reloading(); // best effort: only matters under systemd
                match check_config::load_and_validate(config.as_deref()) {
                    Ok(settings) => {
                        if reload.send(settings).await.is_err() {
                            break;
                        }
                    }
                    Err(_) => tracing::error!("reload: the new configuration is invalid (see above); keeping the running one"),
                }
                let _ = sd_notify::ready();
            }
        }
    }
    let _ = sd_notify::stopping();
    let _ = sd_notify::status("Stopping: draining in-flight batches, saving checkpoints");
    shutdown.cancel();
}
