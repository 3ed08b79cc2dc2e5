//! The `firetail` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    firetail::heap::keep_freed_memory();
    firetail::cli::main()
}
