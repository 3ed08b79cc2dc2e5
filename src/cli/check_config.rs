//! `firetail check-config`: load, validate everything the daemon would build from the
//! configuration (processing chains, framing patterns), print the effective settings.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use firetail_config::Settings;

use crate::cli::EXIT_CONFIG;

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    #[command(flatten)]
    pub config: crate::cli::ConfigArg,
    /// Print only errors and warnings, not the effective configuration.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(args: CheckConfigArgs) -> ExitCode {
    match load_and_validate(args.config.path()) {
        Ok(settings) => {
            warn_of_sandbox(&settings, crate::sandbox::UNIT);
            if !args.quiet {
                let json = settings.to_effective_json();
                match serde_json::to_string_pretty(&json) {
                    Ok(text) => println!("{text}"),
                    Err(e) => eprintln!("cannot print the configuration: {e}"),
                }
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// Warns for every path of `settings` that `unit`'s systemd sandbox hides or makes
/// read-only (see `crate::sandbox`). Silent where systemd or the unit is absent.
pub fn warn_of_sandbox(settings: &Settings, unit: &str) {
    match crate::sandbox::query(unit) {
        Ok(Some(sandbox)) => {
            for w in crate::sandbox::warnings(&sandbox, settings) {
                tracing::warn!("{w}");
            }
        }
        Ok(None) => tracing::debug!("{unit} is not installed; no sandbox to check paths against"),
        Err(e) => tracing::debug!("cannot read {unit}'s sandbox settings: {e}"),
    }
}

/// Loads the configuration and builds every flow's processing chain and framing rules,
/// printing each warning and ALL errors to stderr. The daemon uses it too, so a
/// configuration `check-config` accepts is one `run` starts with.
pub fn load_and_validate(explicit: Option<&Path>) -> Result<Settings, ExitCode> {
    let candidates = firetail_config::default_config_candidates();
    let path = match firetail_config::resolve_config_path(explicit, &candidates) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("firetail: {e}");
            return Err(ExitCode::from(EXIT_CONFIG));
        }
    };
    let loaded = match firetail_config::load(&path) {
        Ok(l) => l,
        Err(errors) => {
            eprintln!(
                "firetail: {} is not a valid configuration:\n{errors}",
                path.display()
            );
            return Err(ExitCode::from(EXIT_CONFIG));
        }
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let mut problems = Vec::new();
    for flow in &loaded.settings.flows {
        if let Some(opts) = &flow.data_processing_options {
            if let Err(e) = firetail_process::Chain::from_options(opts) {
                problems.push(format!(
                    "{}: flows[{}] ({}): dataProcessingOptions: {e}",
                    flow.origin.display(),
                    flow.index,
                    flow.id
                ));
            }
        }
        let mut framing = firetail_tail::frame::FramingConfig::firehose();
        framing.multi_line_start_pattern = flow.multi_line_start_pattern.clone();
        framing.file_footer_pattern = flow.file_footer_pattern.clone();
        if let Err(e) = framing.compile() {
            problems.push(format!(
                "{}: flows[{}] ({}): {e}",
                flow.origin.display(),
                flow.index,
                flow.id
            ));
        }
    }
    if !problems.is_empty() {
        eprintln!(
            "firetail: {} is not a valid configuration:\n{}",
            path.display(),
            problems.join("\n")
        );
        return Err(ExitCode::from(EXIT_CONFIG));
    }
    tracing::info!("Reading configuration from file: {}", path.display());
    Ok(loaded.settings)
}
