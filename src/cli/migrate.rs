//! `firetail migrate-checkpoints`: import the Kinesis Agent's SQLite checkpoints into
//! firetail's checkpoint file (rules in [`crate::migrate`]).
//!
//! Run it while the daemon is stopped: a running daemon rewrites the file from its own
//! memory and would drop the imported entries. The daemon does the same import by itself
//! on its first start, so this command is for a dry run, `--force`, or a DB elsewhere.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::cli::{EXIT_CONFIG, EXIT_RUNTIME};
use crate::migrate::{self, ImportOptions, MigrateError};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The Kinesis Agent's checkpoint DB (default: /var/run/aws-kinesis-agent/checkpoints,
    /// or agent.json's `checkpointFile` when that is a SQLite file).
    #[arg(long, value_name = "PATH")]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub config: crate::cli::ConfigArg,
    /// Replace checkpoints firetail already has for a file (they are normally newer).
    #[arg(long)]
    pub force: bool,
    /// Print what would be imported; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Exit 0 when the import ran (even if rows were skipped), 1 when the configuration or
/// the agent's DB cannot be read, 3 when firetail's checkpoint file cannot be written.
pub fn run(args: MigrateArgs) -> ExitCode {
    let settings = match crate::cli::check_config::load_and_validate(args.config.path()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let paths = migrate::checkpoint_paths(&settings);
    let from = args.from.unwrap_or(paths.agent_db);
    // The interval is unused: this process flushes once, explicitly.
    let store = match firetail_tail::CheckpointStore::open_with_ttl(
        &paths.store,
        Duration::from_secs(1),
        settings.checkpoint_time_to_live(),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("firetail: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let opts = ImportOptions {
        force: args.force,
        dry_run: args.dry_run,
        ttl_days: settings.checkpoint_time_to_live_days,
    };
    match migrate::import_with(&from, &store, &settings.flows, &opts) {
        Ok(report) => {
            print!("{report}");
            if !args.dry_run {
                println!("firetail checkpoints written to {}", paths.store.display());
            }
            ExitCode::SUCCESS
        }
        Err(e @ MigrateError::Store(_)) => {
            eprintln!("firetail: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
        Err(e) => {
            eprintln!("firetail: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}
