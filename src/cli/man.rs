//! `firetail man` (hidden): the roff man pages, `firetail(1)` plus one page per visible
//! subcommand (`firetail-run(1)`, `firetail-check-config(1)`, ...).
//!
//! Packaging runs this on the freshly built binary, so the pages always match the command
//! line that ships; nothing is checked in. Invariants: hidden subcommands and clap's
//! `help` subcommand get no page and are not listed, so every `SEE ALSO`-style reference
//! in `firetail(1)` names a page that is installed.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Renders `firetail(1)` for `cmd` (the full `firetail` command) on stdout.
pub fn man(cmd: clap::Command) -> io::Result<()> {
    let mut page = Vec::new();
    render(prepare(cmd), &mut page)?;
    let mut stdout = io::stdout().lock();
    stdout.write_all(&page)?;
    stdout.flush()
}

/// Writes `firetail.1` and one `firetail-<subcommand>.1` per visible subcommand (nested
/// ones too) into `dir`, which must exist. Returns the files written.
pub fn man_pages(cmd: clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    write_pages(prepare(cmd), dir, &mut written)?;
    Ok(written)
}

/// Drops clap's `help` subcommand (it would list a page that does not exist) and builds
/// the command so subcommands carry their display names (`firetail-run`).
fn prepare(cmd: clap::Command) -> clap::Command {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    cmd
}

fn write_pages(cmd: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), dir, written)?;
    }
    let path = dir.join(page(cmd.clone()).get_filename());
    let mut roff = Vec::new();
    render(cmd, &mut roff)?;
    std::fs::write(&path, roff)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))?;
    written.push(path);
    Ok(())
}

fn page(cmd: clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(cmd)
        .section("1")
        .manual("firetail manual")
}

/// Renders `cmd` as roff into `out`.
fn render(cmd: clap::Command, out: &mut impl Write) -> io::Result<()> {
    page(cmd).render(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn sample() -> clap::Command {
        clap::Command::new("firetail")
            .about("ship logs")
            .subcommand(clap::Command::new("run").about("Run the daemon"))
            .subcommand(clap::Command::new("man").hide(true))
    }

    #[test]
    fn main_page_lists_visible_subcommands_only() {
        let mut page = Vec::new();
        render(prepare(sample()), &mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.contains(".TH firetail 1"), "{page}");
        assert!(page.contains("firetail\\-run(1)"), "{page}");
        assert!(!page.contains("firetail\\-help"), "{page}");
        assert!(!page.contains("firetail\\-man"), "{page}");
    }

    #[test]
    fn one_page_per_visible_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let written = man_pages(sample(), dir.path()).unwrap();
        let mut names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["firetail-run.1", "firetail.1"]);
        let run = std::fs::read_to_string(dir.path().join("firetail-run.1")).unwrap();
        assert!(run.contains(".TH firetail-run 1"), "{run}");
    }

    #[test]
    fn unwritable_directory_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent");
        let err = man_pages(sample(), &missing).unwrap_err();
        assert!(err.to_string().contains("absent"), "{err}");
    }
}
