//! `firetail run`: the daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::cli::{check_config, EXIT_RUNTIME};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// agent.json to use. Default: /etc/firetail/agent.json, else
    /// /etc/aws-kinesis/agent.json (so an upgrade from the Kinesis Agent needs no edit).
    #[arg(
        short = 'c',
        long = "config",
        visible_alias = "configuration",
        env = "FIRETAIL_CONFIG"
    )]
    pub config: Option<PathBuf>,
}

pub fn run(args: RunArgs) -> ExitCode {
    let settings = match check_config::load_and_validate(args.config.as_deref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let rt = match crate::cli::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(forward_signals(shutdown.clone()));
        match crate::daemon::run(settings, shutdown, crate::daemon::Hooks::default()).await {
            Ok(report) => {
                tracing::info!(
                    sent = report.records_sent,
                    parsed = report.records_parsed,
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

/// SIGTERM and SIGINT start the ordered shutdown; a second one is left to the default
/// handler of the service manager (systemd escalates to SIGKILL on its own timeout).
async fn forward_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop firetail with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    shutdown.cancel();
}
