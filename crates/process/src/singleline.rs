//! `SINGLELINE`: joins the lines of a (multi-line) record into one line.
//!
//! The agent splits on `\n` with Java `String.split` (trailing empty lines vanish, inner ones
//! stay), `trim()`s each line unless `NO_TRIM` (every char <= U+0020 at both ends, including
//! `\r`), joins with nothing or, with `ESCAPE_NEW_LINE`, with the three bytes `\\n`, and
//! appends `\n`. Unknown `parseOptions` entries are ignored.

use crate::config::{OptionReader, ProcessConfigError};
use firetail_agent::{java, utf8};

#[derive(Debug, Clone)]
pub struct SingleLine {
    trim: bool,
    escape_new_line: bool,
}

impl SingleLine {
    pub(crate) fn from_option(opt: &OptionReader<'_>) -> Result<Self, ProcessConfigError> {
        let parse_options = opt.string_list("parseOptions")?.unwrap_or_default();
        Ok(SingleLine {
            trim: !parse_options.iter().any(|o| o == "NO_TRIM"),
            escape_new_line: parse_options.iter().any(|o| o == "ESCAPE_NEW_LINE"),
        })
    }

    pub fn convert(&self, input: &[u8], out: &mut Vec<u8>) {
        let text = utf8::decode(input);
        let mut lines: Vec<&str> = text.split('\n').collect();
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        if lines.is_empty() && text.is_empty() {
            // Java: splitting "" yields [""].
            lines.push("");
        }
        for (i, line) in lines.iter().enumerate() {
            if i > 0 && self.escape_new_line {
                out.extend_from_slice(b"\\\\n");
            }
            let line = if self.trim { java::trim(line) } else { line };
            out.extend_from_slice(line.as_bytes());
        }
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(trim: bool, escape_new_line: bool, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        SingleLine {
            trim,
            escape_new_line,
        }
        .convert(input, &mut out);
        out
    }

    #[test]
    fn spec_examples() {
        let input = b"  line one  \n\tline two\r\n   line three\n";
        assert_eq!(run(true, false, input), b"line oneline twoline three\n");
        assert_eq!(
            run(false, false, input),
            b"  line one  \tline two\r   line three\n"
        );
        assert_eq!(
            run(true, true, input),
            b"line one\\\\nline two\\\\nline three\n"
        );
        assert_eq!(run(true, false, b"a\n\n\nb\n\n"), b"ab\n");
        assert_eq!(run(true, false, b""), b"\n");
        assert_eq!(run(true, false, b"\n"), b"\n");
    }
}
