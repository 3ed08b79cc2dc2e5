//! `firetail completions <shell>` (hidden): prints a shell completion script to stdout.
//!
//! Packaging runs this on the freshly built binary for bash, zsh and fish, so the
//! scripts always match the command line that ships.

use std::io::{self, Write};

pub use clap_complete::Shell;

/// Writes the completion script for `shell` for `cmd` (the full `firetail` command).
pub fn completions(cmd: clap::Command, shell: Shell) -> io::Result<()> {
    let mut script = Vec::new();
    render(cmd, shell, &mut script);
    let mut stdout = io::stdout().lock();
    stdout.write_all(&script)?;
    stdout.flush()
}

/// Renders into a buffer first: `clap_complete::generate` panics on a write error
/// (e.g. a closed pipe), and a buffer cannot fail.
fn render(mut cmd: clap::Command, shell: Shell, out: &mut Vec<u8>) {
    let name = cmd.get_name().to_owned();
    clap_complete::generate(shell, &mut cmd, name, out);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn sample() -> clap::Command {
        clap::Command::new("firetail")
            .subcommand(clap::Command::new("check-config"))
            .subcommand(clap::Command::new("run"))
    }

    #[test]
    fn every_packaged_shell_gets_a_script_naming_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut script = Vec::new();
            render(sample(), shell, &mut script);
            let script = String::from_utf8(script).unwrap();
            assert!(script.contains("check-config"), "{shell}: {script}");
        }
    }
}
