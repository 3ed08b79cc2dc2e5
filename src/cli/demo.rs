//! `firetail demo`: generate, ship to an embedded Firehose, verify.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use tokio_util::sync::CancellationToken;

use crate::cli::{EXIT_CONFIG, EXIT_RUNTIME};
use crate::demo::{DemoPlan, Verdict};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long to generate, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub duration: u64,
    /// Access-log lines per second.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u32).range(1..=200_000))]
    pub rate: u32,
    /// How the generated log rotates.
    #[arg(long, value_enum, default_value_t = Rotation::Rename)]
    pub rotate_mode: Rotation,
    /// Rotate when the live file would pass this many bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub rotate_size: u64,
    /// Keep everything (logs, S3-layout objects, agent.json, checkpoints) in DIR
    /// instead of a temporary directory removed at the end.
    #[arg(long, value_name = "DIR")]
    pub keep_output: Option<PathBuf>,
    /// Fraction of PutRecordBatch calls the local Firehose throttles.
    #[arg(long, default_value_t = 0.0)]
    pub throttle_rate: f64,
    /// Fraction of records the local Firehose fails inside a successful call.
    #[arg(long, default_value_t = 0.0)]
    pub partial_failure_rate: f64,
    /// Fraction of calls answered with HTTP 500.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Fraction of calls whose connection is reset without an answer.
    #[arg(long, default_value_t = 0.0)]
    pub reset_rate: f64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Rotation {
    Rename,
    Copytruncate,
    Dated,
}

pub fn run(args: DemoArgs) -> ExitCode {
    let (dir, _tmp) = match &args.keep_output {
        Some(d) => (d.clone(), None),
        None => match tempfile::Builder::new().prefix("firetail-demo-").tempdir() {
            Ok(t) => (t.path().to_path_buf(), Some(t)),
            Err(e) => {
                eprintln!("firetail demo: cannot create a temporary directory: {e}");
                return ExitCode::from(EXIT_RUNTIME);
            }
        },
    };
    let faults = firetail_local_firehose::Faults {
        throttle_rate: args.throttle_rate,
        partial_failure_rate: args.partial_failure_rate,
        error_rate: args.error_rate,
        reset_rate: args.reset_rate,
        ..Default::default()
    };
    if let Err(e) = faults.validate() {
        eprintln!("firetail demo: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let plan = DemoPlan {
        dir: dir.clone(),
        duration: Duration::from_secs(args.duration),
        rate: args.rate,
        rotate_mode: match args.rotate_mode {
            Rotation::Rename => firetail_generate::RotateMode::Rename,
            Rotation::Copytruncate => firetail_generate::RotateMode::Copytruncate,
            Rotation::Dated => firetail_generate::RotateMode::Dated,
        },
        rotate_bytes: args.rotate_size,
        faults,
        drain_timeout: Duration::from_secs(120),
        progress: true,
    };
    eprintln!(
        "firetail demo: {} lines/s for {} s into {}, shipped to an embedded Firehose (stream {})",
        args.rate,
        args.duration,
        dir.join("logs").display(),
        crate::demo::DEMO_STREAM
    );
    let rt = match crate::cli::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let interrupt = CancellationToken::new();
    let result = rt.block_on(async {
        let on_ctrl_c = interrupt.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("firetail demo: interrupted: stopping the generator, then verifying");
                on_ctrl_c.cancel();
            }
        });
        crate::demo::run(plan, interrupt).await
    });
    match result {
        // Only a response lost on purpose (a reset after delivery) may duplicate a line.
        Ok(v) => report(&v, &dir, args.keep_output.is_some(), args.reset_rate > 0.0),
        Err(e) => {
            eprintln!("firetail demo: {e:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn report(v: &Verdict, dir: &std::path::Path, kept: bool, duplicates_allowed: bool) -> ExitCode {
    println!(
        "generated {} lines in {} files; delivered {} lines in {} S3-layout objects ({:.1} s)",
        v.lines_generated,
        v.files_generated,
        v.lines_delivered,
        v.objects,
        v.elapsed.as_secs_f64()
    );
    if kept {
        println!("output kept in {}", dir.display());
    }
    if v.is_ok() && (duplicates_allowed || v.duplicates == 0) {
        println!(
            "verdict: OK: every generated line was delivered ({} missing, {} duplicate{})",
            v.missing,
            v.duplicates,
            if v.duplicates == 1 { "" } else { "s" }
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "verdict: FAILED: {} lines missing, {} duplicates",
            v.missing, v.duplicates
        );
        ExitCode::from(1)
    }
}
