//! Integration tests of firetail-generate, one binary.
//! - `realism`: distribution checks on a large seeded sample, and the agent-pattern match.
//! - `rotation`: a concurrent tail-follower sees every line once, in order, in each mode.
//! - `cli`: seeds, errors and outputs through `run()` and `GenerateArgs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod realism;
mod rotation;

use clap::Parser;
use firetail_generate::GenerateArgs;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: GenerateArgs,
}

/// Parses `generate` flags the way the binary will.
pub fn args(list: &[&str]) -> GenerateArgs {
    let mut v = vec!["generate"];
    v.extend_from_slice(list);
    Cli::try_parse_from(v).unwrap().args
}

/// The Kinesis Agent's COMBINEDAPACHELOG, translated from Java per kinesis-agent.md §2.5/§2.9:
/// ASCII classes, `matches()` = anchored at both ends, and Java's `.` (no `\r`, `\u0085`,
/// `\u2028`, `\u2029`) for the trailing `.*`.
pub fn combined_apache_log() -> regex::Regex {
    let hostname = r"(?:[A-Za-z0-9_\-]+)(?:\.(?:[A-Za-z0-9_\-]+))*(?:\.?|(?-u:\b))";
    let ip = r"(?:[0-9.]+)";
    let iporhost = format!("(?:{hostname}|{ip})");
    let user = r"(?:[a-zA-Z0-9._-]+)";
    let monthday = r"(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])";
    let month = r"(?-u:\b)(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)(?-u:\b)";
    let year = r"(?:[1-9][0-9]*)";
    let time = r"(?:(?:2[0123]|[01]?[0-9]):(?:[0-5][0-9]):(?:(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?))";
    let int = r"(?:[+-]?(?:[0-9]+))";
    let httpdate = format!(r"(?:{monthday}/{month}/{year}:{time}[ \t\n\x0B\x0C\r]{int})");
    let noquote = r#"[^"]+"#;
    let pattern = format!(
        r#"^(?:({iporhost}) ({user}) ({user}) \[({httpdate})\] "({noquote})" ({int}|\-) ({int}|\-) "({noquote})" "({noquote})"[^\n\r\x{{85}}\x{{2028}}\x{{2029}}]*)$"#
    );
    regex::Regex::new(&pattern).unwrap()
}
