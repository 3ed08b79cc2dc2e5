//! The command line: one module per subcommand; this one parses and dispatches.
//!
//! Exit codes: 0 success; 1 a configuration error or a failed verification; 2 a usage
//! error (clap's own code, reused for nonsense values); 3 a runtime failure.

pub mod check_config;
pub mod completions;
pub mod demo;
pub mod generate;
pub mod local_firehose;
pub mod man;
pub mod migrate;
pub mod plan;
pub mod preview;
pub mod run;
pub mod setup;
pub mod status;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};

/// `-c/--config`, declared once and flattened into every subcommand that reads agent.json,
/// so its name, alias, variable and default lookup cannot differ between them.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArg {
    /// agent.json to use. Default: /etc/firetail/agent.json, else
    /// /etc/aws-kinesis/agent.json (so an upgrade from the Kinesis Agent needs no edit).
    #[arg(
        short = 'c',
        long = "config",
        visible_alias = "configuration",
        env = "FIRETAIL_CONFIG",
        value_name = "PATH"
    )]
    pub path: Option<PathBuf>,
}

impl ConfigArg {
    /// The path given, if any (`None`: the default lookup).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

/// firetail: ship rotating log files to Amazon Kinesis Data Firehose and Kinesis Data
/// Streams. Reads the Kinesis Agent's agent.json unchanged.
///
/// Start with `firetail demo`: it generates access logs, ships them to an embedded
/// Firehose stand-in, and checks that every line arrived exactly once.
#[derive(Debug, Parser)]
#[command(name = "firetail", version, about, long_about)]
pub struct Cli {
    /// Default log filter (RUST_LOG overrides it), e.g. `info`, `debug`, `firetail=debug`.
    #[arg(
        long,
        global = true,
        default_value = "info",
        env = "FIRETAIL_LOG_LEVEL"
    )]
    log_level: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: tail every flow's files and ship them.
    Run(run::RunArgs),
    /// Validate agent.json and print the effective configuration, defaults resolved.
    CheckConfig(check_config::CheckConfigArgs),
    /// Write realistic Apache access logs at an exact rate, with rotation.
    Generate(Box<firetail_generate::GenerateArgs>),
    /// Serve a local Kinesis Data Firehose endpoint that writes the S3 layout to disk (and
    /// answers Kinesis Data Streams' PutRecords, for `kinesisStream` flows).
    LocalFirehose(Box<firetail_local_firehose::LocalFirehoseArgs>),
    /// Show what a flow would send for a file: framing and dataProcessingOptions applied.
    ///
    /// The whole file is read from its first byte, whatever the flow's initialPosition
    /// says (the default, END_OF_FILE, would start past everything the file holds): a
    /// preview shows the file. Framing (skipHeaderLines included), dataProcessingOptions,
    /// truncation and partition keys are the daemon's own code.
    Preview(preview::PreviewArgs),
    /// Generate logs, ship them to an embedded Firehose, verify every line arrived.
    Demo(demo::DemoArgs),
    /// Import the Kinesis Agent's SQLite checkpoints so an upgrade neither re-sends nor
    /// skips lines (also done automatically on the first start).
    MigrateCheckpoints(migrate::MigrateArgs),
    /// Create the raw delivery streams in AWS, or render the pipeline templates.
    Setup(Box<setup::SetupArgs>),
    /// The arithmetic of a fleet on one stream: Firehose streams or Kinesis shards needed,
    /// requests per second, and monthly ingestion cost with and without aggregation.
    Plan(plan::PlanArgs),
    /// Ask the running daemon how each flow and file is doing (a table, --json or
    /// --watch); the exit code is a Nagios check's: 0 OK, 1 WARNING, 2 CRITICAL,
    /// 3 UNKNOWN.
    Status(status::StatusArgs),
    /// Print the man page (roff) to stdout, or write one page per subcommand into a
    /// directory; used when packaging.
    #[command(hide = true)]
    Man {
        #[arg(long, value_name = "DIR")]
        out_dir: Option<std::path::PathBuf>,
    },
    /// Print a shell completion script to stdout; used when packaging.
    #[command(hide = true)]
    Completions {
        #[arg(value_enum)]
        shell: completions::Shell,
    },
}

/// Exit code for a configuration that does not load.
pub const EXIT_CONFIG: u8 = 1;
/// Exit code for nonsense arguments (the same as clap's).
pub const EXIT_USAGE: u8 = 2;
/// Exit code for a failure while running.
pub const EXIT_RUNTIME: u8 = 3;

/// Entry point shared by the binary and by tests that run the CLI in-process.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo narrates its own progress, and `status` prints a table (or JSON) a check
    // reads: INFO lines (the daemon's, the configuration loader's) would drown them unless
    // the user asked for them.
    let quiet =
        matches!(cli.command, Command::Demo(_) | Command::Status(_)) && cli.log_level == "info";
    crate::logging::init(if quiet { "warn" } else { &cli.log_level });
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::CheckConfig(args) => check_config::run(args),
        Command::Generate(args) => generate::run(&args),
        Command::LocalFirehose(args) => local_firehose::run(*args),
        Command::Preview(args) => preview::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Setup(args) => setup::run(*args),
        Command::MigrateCheckpoints(args) => migrate::run(args),
        Command::Status(args) => status::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Man { out_dir: None } => io_exit(man::man(Cli::command())),
        Command::Man { out_dir: Some(dir) } => {
            io_exit(man::man_pages(Cli::command(), &dir).map(|_| ()))
        }
        Command::Completions { shell } => io_exit(completions::completions(Cli::command(), shell)),
    }
}

fn io_exit(result: std::io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firetail: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// The daemon's runtime: `threads` workers (`firetail.workerThreads`). With one, every
/// stage of every flow runs on one thread: a record's hand-offs from tailer to processor
/// to sink are plain function calls away, where two workers pay a cross-thread wake-up
/// (a futex and a cache miss) for most of them.
pub(crate) fn daemon_runtime(threads: u32) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut builder = if threads <= 1 {
        // On the thread that calls `block_on`: one thread allocates, so glibc keeps one
        // malloc arena (a worker beside the main thread doubled them, and their
        // fragmentation showed as ~1 KiB of RSS per tracked file).
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads as usize);
        b
    };
    builder
        .enable_all()
        .thread_name("firetail")
        .build()
        .map_err(|e| {
            eprintln!("firetail: cannot start the async runtime: {e}");
            ExitCode::from(EXIT_RUNTIME)
        })
}

/// A multi-threaded tokio runtime, or an error message for the user.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut b = match std::env::var("FT_RT").as_deref() {
        Ok("current") => tokio::runtime::Builder::new_current_thread(),
        Ok("one") => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(1);
            b
        }
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    b.enable_all().thread_name("firetail").build().map_err(|e| {
        eprintln!("firetail: cannot start the async runtime: {e}");
        ExitCode::from(EXIT_RUNTIME)
    })
}
