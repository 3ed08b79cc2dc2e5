//! `firetail man` (hidden): prints the roff man page for `firetail(1)` to stdout.
//!
//! Packaging runs this on the freshly built binary, so the page always matches the
//! command line that ships; nothing is checked in. Subcommands are listed in the page
//! through clap's own rendering (one page, not one per subcommand).

use std::io::{self, Write};

/// Renders `cmd` (the full `firetail` command) as a man page on stdout.
pub fn man(cmd: clap::Command) -> io::Result<()> {
    let mut page = Vec::new();
    render(cmd, &mut page)?;
    let mut stdout = io::stdout().lock();
    stdout.write_all(&page)?;
    stdout.flush()
}

/// Renders `cmd` as roff into `out`.
fn render(cmd: clap::Command, out: &mut impl Write) -> io::Result<()> {
    clap_mangen::Man::new(cmd)
        .section("1")
        .manual("firetail manual")
        .render(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_section_one_page_naming_the_subcommands() {
        let cmd = clap::Command::new("firetail")
            .about("ship logs")
            .subcommand(clap::Command::new("run").about("Run the daemon"));
        let mut page = Vec::new();
        render(cmd, &mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.contains(".TH firetail 1"), "{page}");
        assert!(page.contains("run"), "{page}");
    }
}
