//! `firetail local-firehose`: the Firehose stand-in as a server of its own.

use std::process::ExitCode;

use firetail_local_firehose::LocalFirehoseArgs;

use crate::cli::EXIT_RUNTIME;

pub fn run(args: LocalFirehoseArgs) -> ExitCode {
    let rt = match crate::cli::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(firetail_local_firehose::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firetail local-firehose: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
