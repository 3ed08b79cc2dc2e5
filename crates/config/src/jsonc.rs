//! JSON with comments, as Jackson's `ALLOW_COMMENTS` reads it: `// …` to end of line and
//! `/* … */` (not nested) anywhere whitespace may go. Everything else is strict JSON:
//! trailing commas are errors, as in Jackson.
//!
//! Comments are blanked out byte for byte (newlines kept), so the parser's line and column
//! numbers still point into the original text. Text inside strings is never touched, so
//! `"https://example.com"` survives.

use crate::error::{ConfigError, ConfigWarning, Location};
use serde::Deserialize as _;
use serde_json::Value;

/// Parses `text` (from `origin`) into a JSON value. Content after the first complete value
/// is ignored with a warning, because Jackson ignores it too.
pub(crate) fn parse(
    text: &str,
    origin: &str,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<Value, ConfigError> {
    let blanked = blank_comments(text).map_err(|(line, column)| ConfigError::Syntax {
        file: origin.to_owned(),
        line,
        column,
        message: "unterminated /* comment".to_owned(),
    })?;
    let mut de = serde_json::Deserializer::from_str(&blanked);
    let value = Value::deserialize(&mut de).map_err(|e| syntax_error(origin, &e))?;
    if let Err(e) = de.end() {
        warnings.push(ConfigWarning::Note {
            at: Location::top(origin),
            message: format!(
                "content after the JSON object at line {} column {} is ignored (the Kinesis Agent ignores it too)",
                e.line(),
                e.column()
            ),
        });
    }
    Ok(value)
}

fn syntax_error(origin: &str, e: &serde_json::Error) -> ConfigError {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    ConfigError::Syntax {
        file: origin.to_owned(),
        line: e.line(),
        column: e.column(),
        message,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    InString,
    InStringEscape,
    LineComment,
    BlockComment,
}

/// Returns `text` with every comment byte replaced by a space (newlines kept), or the
/// 1-based (line, column) of an unterminated block comment. A leading UTF-8 byte order mark
/// is blanked too (Jackson skips it).
fn blank_comments(text: &str) -> Result<String, (usize, usize)> {
    let mut out = text.as_bytes().to_vec();
    if text.starts_with('\u{feff}') {
        out[..3].fill(b' ');
    }
    let mut state = State::Code;
    let mut block_start = (0, 0);
    let (mut line, mut column) = (1usize, 0usize);
    let mut i = 0;
    while i < out.len() {
        let b = out[i];
        let next = out.get(i + 1).copied();
        if b == b'\n' {
            line += 1;
            column = 0;
        } else {
            column += 1;
        }
        match state {
            State::Code => match (b, next) {
                (b'"', _) => state = State::InString,
                (b'/', Some(b'/')) => {
                    state = State::LineComment;
                    out[i] = b' ';
                }
                (b'/', Some(b'*')) => {
                    state = State::BlockComment;
                    block_start = (line, column);
                    out[i] = b' ';
                    out[i + 1] = b' ';
                    column += 1;
                    i += 1;
                }
                _ => {}
            },
            State::InString => match b {
                b'\\' => state = State::InStringEscape,
                b'"' => state = State::Code,
                _ => {}
            },
            State::InStringEscape => state = State::InString,
            State::LineComment => {
                if b == b'\n' || b == b'\r' {
                    state = State::Code;
                } else {
                    out[i] = b' ';
                }
            }
            State::BlockComment => {
                if b == b'*' && next == Some(b'/') {
                    out[i] = b' ';
                    out[i + 1] = b' ';
                    column += 1;
                    i += 1;
                    state = State::Code;
                } else if b != b'\n' && b != b'\r' {
                    out[i] = b' ';
                }
            }
        }
        i += 1;
    }
    if state == State::BlockComment {
        return Err(block_start);
    }
    // Only whole UTF-8 sequences were replaced (comments end on ASCII), so this cannot fail;
    // the lossy conversion keeps that an assumption rather than a panic.
    Ok(String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Value {
        let mut w = Vec::new();
        parse(text, "t.json", &mut w).unwrap()
    }

    #[test]
    fn line_and_block_comments_are_removed() {
        let v = parse_ok("// head\n{ /* a */ \"a\": 1, // tail\n \"b\": /* x\n y */ 2 }\n// end");
        assert_eq!(v, serde_json::json!({"a": 1, "b": 2}));
    }

    #[test]
    fn slashes_inside_strings_are_kept() {
        let v = parse_ok(r#"{"u": "https://x.example/a//b", "c": "/* not */", "q": "a\"//b"}"#);
        assert_eq!(v["u"], "https://x.example/a//b");
        assert_eq!(v["c"], "/* not */");
        assert_eq!(v["q"], "a\"//b");
    }

    #[test]
    fn trailing_comma_is_located() {
        let mut w = Vec::new();
        let e = parse("{\n  \"a\": 1,\n}", "t.json", &mut w).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("t.json:3:1: invalid JSON: trailing comma"),
            "{msg}"
        );
    }

    #[test]
    fn error_positions_survive_comments() {
        let mut w = Vec::new();
        let e = parse("/* ünïcode */ {\"a\": tru}", "t.json", &mut w).unwrap_err();
        match e {
            ConfigError::Syntax { line, .. } => assert_eq!(line, 1),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn unterminated_block_comment_is_an_error() {
        let mut w = Vec::new();
        let e = parse("{\"a\": 1}\n  /* open", "t.json", &mut w).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.json:2:3: invalid JSON: unterminated /* comment"
        );
    }

    #[test]
    fn trailing_content_warns() {
        let mut w = Vec::new();
        parse("{\"a\": 1} xyz", "t.json", &mut w).unwrap();
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn bom_is_skipped() {
        assert_eq!(parse_ok("\u{feff}{}"), serde_json::json!({}));
    }
}
