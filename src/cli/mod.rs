//! The command line: one module per subcommand; this one parses and dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// firetail: ship rotating log files to Amazon Kinesis Data Firehose and Kinesis Data
/// Streams. Reads the Kinesis Agent's agent.json unchanged.
#[derive(Debug, Parser)]
#[command(name = "firetail", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: tail every flow's files and ship them.
    Run,
}

/// Entry point shared by the binary and by tests that run the CLI in-process.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run => {
            eprintln!("firetail run: not implemented yet");
            ExitCode::FAILURE
        }
    }
}
