//! Java `java.util.regex` semantics on top of the `regex` crate.
//!
//! The agent's configuration carries Java regexes (`matchPattern`, CSV `delimiter`,
//! `multiLineStartPattern`, `fileFooterPattern`). This module rewrites such a pattern into an
//! equivalent `regex` crate pattern with a small tokenizer that knows about escapes, character
//! classes and groups, then exposes the Java matcher operations the agent uses (`matches`,
//! `lookingAt`, `find`, `String.split`).
//!
//! What the rewrite changes (Java defaults, i.e. no `UNICODE_CHARACTER_CLASS`):
//! - `.` excludes `\n`, `\r`, U+0085, U+2028, U+2029 (only `\n` under `(?d)`; nothing under `(?s)`).
//! - `\d \w \s` and their negations, and the POSIX `\p{Alpha}`-style classes, are ASCII-only.
//! - `$` and `\Z` (without MULTILINE) also match before a final line terminator. The `regex`
//!   crate has no look-ahead, so this is evaluated by also running the operation on the text
//!   without its final terminator (exact unless the pattern consumes that terminator after `$`).
//! - `\Q…\E`, `\uXXXX`, `\0oct`, `\cX`, `\e`, `\a`, `\h`, `\v`, `\R` become their `regex` equivalents.
//!
//! Java syntax without a `regex` equivalent (look-around, atomic groups, possessive
//! quantifiers, back-references, `\G`, Unicode blocks) is rejected with
//! [`JavaRegexError::Unsupported`]; the agent would accept such patterns, so this is a
//! documented deviation (docs/compatibility.md).

use std::borrow::Cow;
use std::fmt::Write as _;

use regex::Regex;

/// Why a Java pattern could not be compiled.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JavaRegexError {
    /// The pattern uses Java syntax the `regex` crate cannot express.
    #[error(
        "regex {pattern:?}: unsupported Java regex construct {construct} (position {position})"
    )]
    Unsupported {
        pattern: String,
        construct: String,
        position: usize,
    },
    /// The pattern is malformed (Java would throw `PatternSyntaxException` too).
    #[error("regex {pattern:?}: invalid pattern: {reason}")]
    Invalid { pattern: String, reason: String },
}

/// A compiled Java regex.
#[derive(Debug, Clone)]
pub struct JavaRegex {
    source: String,
    /// `\A(?:P)` with `$` as `\z`: `lookingAt`.
    prefix: Regex,
    /// `\A(?:P)\z`: `matches`.
    whole: Regex,
    /// `P`: `find` and `split`.
    unanchored: Regex,
    /// The pattern contains a non-multiline `$`/`\Z`: retry on the text without its final
    /// line terminator.
    end_anchor_before_terminator: bool,
    /// `(?d)` was set at top level: only `\n` is a line terminator.
    unix_lines: bool,
}

impl JavaRegex {
    /// Compile a Java pattern with default flags.
    pub fn new(pattern: &str) -> Result<JavaRegex, JavaRegexError> {
        Self::build(pattern, false)
    }

    /// Compile a Java pattern with `Pattern.MULTILINE` (used for `fileFooterPattern`).
    pub fn new_multiline(pattern: &str) -> Result<JavaRegex, JavaRegexError> {
        Self::build(pattern, true)
    }

    fn build(pattern: &str, multiline: bool) -> Result<JavaRegex, JavaRegexError> {
        let translated = Translator::new(pattern, multiline).run()?;
        let compile = |p: String| {
            Regex::new(&p).map_err(|e| JavaRegexError::Invalid {
                pattern: pattern.to_owned(),
                reason: e.to_string(),
            })
        };
        Ok(JavaRegex {
            source: pattern.to_owned(),
            prefix: compile(format!(r"\A(?:{})", translated.text))?,
            whole: compile(format!(r"\A(?:{})\z", translated.text))?,
            unanchored: compile(translated.text.clone())?,
            end_anchor_before_terminator: translated.has_end_anchor,
            unix_lines: translated.unix_lines,
        })
    }

    /// The Java pattern this was compiled from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Number of capturing groups (Java `Matcher.groupCount()`).
    pub fn group_count(&self) -> usize {
        self.whole.captures_len().saturating_sub(1)
    }

    /// Java `Matcher.lookingAt()`: a match anchored at the start that need not reach the end.
    pub fn looking_at(&self, text: &str) -> bool {
        if self.prefix.is_match(text) {
            return true;
        }
        match self.without_final_terminator(text) {
            Some(stripped) => self.prefix.is_match(stripped),
            None => false,
        }
    }

    /// Java `Matcher.matches()`: the whole text must match.
    pub fn matches(&self, text: &str) -> bool {
        self.whole.is_match(text)
    }

    /// Java `Matcher.find()` from the start: a match anywhere.
    pub fn find(&self, text: &str) -> bool {
        if self.unanchored.is_match(text) {
            return true;
        }
        match self.without_final_terminator(text) {
            Some(stripped) => self.unanchored.is_match(stripped),
            None => false,
        }
    }

    /// The groups of a whole-text match, Java-numbered: element 0 is the whole match, element
    /// `i` is `group(i)` (`None` when the group did not participate).
    pub fn captures_whole<'t>(&self, text: &'t str) -> Option<Vec<Option<&'t str>>> {
        let caps = self.whole.captures(text)?;
        Some(caps.iter().map(|m| m.map(|m| m.as_str())).collect())
    }

    /// Like [`captures_whole`](Self::captures_whole), reusing caller-owned capture storage.
    pub fn captures_whole_into(&self, text: &str, locs: &mut regex::CaptureLocations) -> bool {
        self.whole.captures_read(locs, text).is_some()
    }

    /// Storage for [`captures_whole_into`](Self::captures_whole_into).
    pub fn capture_locations(&self) -> regex::CaptureLocations {
        self.whole.capture_locations()
    }

    /// Java `String.split(regex)` (limit 0): a zero-width match at the very start does not
    /// produce a leading empty string, trailing empty strings are removed, and a text without
    /// any match is returned whole (so `""` gives `[""]`).
    ///
    /// Java works on UTF-16: a pattern that matches the empty string also splits a
    /// supplementary character into its two surrogate halves. Such a half can only be written
    /// out as `?` (the agent's UTF-8 encoder replaces lone surrogates), so it is returned as
    /// `"?"` here.
    pub fn split<'t>(&self, text: &'t str) -> Vec<Cow<'t, str>> {
        let mut pieces: Vec<Cow<'t, str>> = Vec::new();
        let mut index = 0usize;
        let splits_surrogates = self.prefix.is_match("");
        for m in self.unanchored.find_iter(text) {
            if m.start() == 0 && m.end() == 0 {
                continue;
            }
            if splits_surrogates && m.start() == m.end() {
                // Java would also have matched between the surrogate halves of the
                // supplementary character just before this position.
                if let Some(c) = text[index..m.start()].chars().next_back() {
                    if c.len_utf16() == 2 && index + c.len_utf8() == m.start() {
                        pieces.push(Cow::Borrowed("?"));
                        pieces.push(Cow::Borrowed("?"));
                        index = m.end();
                        continue;
                    }
                }
            }
            pieces.push(Cow::Borrowed(&text[index..m.start()]));
            index = m.end();
        }
        if index == 0 {
            // No match (a zero-width match at the start does not count).
            return vec![Cow::Borrowed(text)];
        }
        pieces.push(Cow::Borrowed(&text[index..]));
        while pieces.last().is_some_and(|p| p.is_empty()) {
            pieces.pop();
        }
        pieces
    }

    fn without_final_terminator<'t>(&self, text: &'t str) -> Option<&'t str> {
        if !self.end_anchor_before_terminator {
            return None;
        }
        if self.unix_lines {
            return text.strip_suffix('\n');
        }
        if let Some(s) = text.strip_suffix("\r\n") {
            return Some(s);
        }
        let last = text.chars().next_back()?;
        if is_line_terminator(last) {
            Some(&text[..text.len() - last.len_utf8()])
        } else {
            None
        }
    }
}

/// Java's default line terminators (for `.` and `$`).
pub fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

const DOT_DEFAULT: &str = r"[^\n\r\x{85}\x{2028}\x{2029}]";
const DOT_UNIX_LINES: &str = r"[^\n]";
const ASCII_DIGIT: &str = "0-9";
const ASCII_WORD: &str = "a-zA-Z0-9_";
const ASCII_SPACE: &str = r"\x20\t\n\x0B\x0C\r";
const HORIZONTAL_SPACE: &str =
    r"\x20\t\xA0\x{1680}\x{180E}\x{2000}-\x{200A}\x{202F}\x{205F}\x{3000}";
const VERTICAL_SPACE: &str = r"\n\x0B\x0C\r\x{85}\x{2028}\x{2029}";

/// Flags that change how the rewrite treats a construct, scoped like Java inline flags.
#[derive(Debug, Clone, Copy)]
struct Flags {
    dotall: bool,
    multiline: bool,
    unix_lines: bool,
    comments: bool,
}

struct Translated {
    text: String,
    has_end_anchor: bool,
    unix_lines: bool,
}

struct Translator<'p> {
    pattern: &'p str,
    chars: Vec<char>,
    pos: usize,
    out: String,
    /// Flags of each open group; the last one is current.
    flag_stack: Vec<Flags>,
    has_end_anchor: bool,
}

impl<'p> Translator<'p> {
    fn new(pattern: &'p str, multiline: bool) -> Self {
        Translator {
            pattern,
            chars: pattern.chars().collect(),
            pos: 0,
            out: String::with_capacity(pattern.len() * 2),
            flag_stack: vec![Flags {
                dotall: false,
                multiline,
                unix_lines: false,
                comments: false,
            }],
            has_end_anchor: false,
        }
    }

    fn flags(&self) -> Flags {
        // The stack is never empty: it starts with one entry and `)` never pops the last one.
        self.flag_stack.last().copied().unwrap_or(Flags {
            dotall: false,
            multiline: false,
            unix_lines: false,
            comments: false,
        })
    }

    fn set_flags(&mut self, flags: Flags) {
        if let Some(top) = self.flag_stack.last_mut() {
            *top = flags;
        }
    }

    fn unsupported(&self, construct: &str) -> JavaRegexError {
        JavaRegexError::Unsupported {
            pattern: self.pattern.to_owned(),
            construct: construct.to_owned(),
            position: self.pos,
        }
    }

    fn invalid(&self, reason: &str) -> JavaRegexError {
        JavaRegexError::Invalid {
            pattern: self.pattern.to_owned(),
            reason: format!("{reason} near index {}", self.pos),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn run(mut self) -> Result<Translated, JavaRegexError> {
        while let Some(c) = self.peek() {
            match c {
                '\\' => self.escape_outside_class()?,
                '[' => self.class()?,
                '(' => self.group_open()?,
                ')' => {
                    if self.flag_stack.len() <= 1 {
                        return Err(self.invalid("unmatched closing ')'"));
                    }
                    self.flag_stack.pop();
                    self.out.push(')');
                    self.pos += 1;
                }
                '.' => {
                    let f = self.flags();
                    self.out.push_str(if f.dotall {
                        "(?s:.)"
                    } else if f.unix_lines {
                        DOT_UNIX_LINES
                    } else {
                        DOT_DEFAULT
                    });
                    self.pos += 1;
                }
                '$' => {
                    self.end_anchor();
                    self.pos += 1;
                }
                '^' => {
                    self.out.push_str(if self.flags().multiline {
                        "(?mR:^)"
                    } else {
                        r"\A"
                    });
                    self.pos += 1;
                }
                '*' | '+' | '?' | '}' => {
                    self.out.push(c);
                    self.pos += 1;
                    self.quantifier_suffix()?;
                }
                '{' => self.counted_repetition()?,
                '|' => {
                    self.out.push('|');
                    self.pos += 1;
                }
                '#' if self.flags().comments => self.skip_comment(),
                c if self.flags().comments && c.is_whitespace() => self.pos += 1,
                _ => {
                    push_literal(&mut self.out, c);
                    self.pos += 1;
                }
            }
        }
        if self.flag_stack.len() != 1 {
            return Err(self.invalid("unclosed group"));
        }
        Ok(Translated {
            text: self.out,
            has_end_anchor: self.has_end_anchor,
            unix_lines: self.flag_stack.first().is_some_and(|f| f.unix_lines),
        })
    }

    fn end_anchor(&mut self) {
        if self.flags().multiline {
            self.out.push_str("(?mR:$)");
        } else {
            self.has_end_anchor = true;
            self.out.push_str(r"\z");
        }
    }

    fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == '\n' {
                break;
            }
        }
    }

    /// After a quantifier: lazy `?` passes through, possessive `+` is rejected.
    fn quantifier_suffix(&mut self) -> Result<(), JavaRegexError> {
        match self.peek() {
            Some('?') => {
                self.out.push('?');
                self.pos += 1;
            }
            Some('+') => return Err(self.unsupported("possessive quantifier")),
            _ => {}
        }
        Ok(())
    }

    fn counted_repetition(&mut self) -> Result<(), JavaRegexError> {
        let start = self.pos;
        let mut end = start + 1;
        while let Some(c) = self.chars.get(end) {
            if *c == '}' {
                break;
            }
            if !(c.is_ascii_digit() || *c == ',') {
                return Err(self.invalid("illegal repetition"));
            }
            end += 1;
        }
        if end >= self.chars.len() {
            return Err(self.invalid("unclosed counted closure"));
        }
        let body: String = self.chars[start + 1..end].iter().collect();
        if body.is_empty() || body.starts_with(',') {
            return Err(self.invalid("illegal repetition"));
        }
        let _ = write!(self.out, "{{{body}}}");
        self.pos = end + 1;
        self.quantifier_suffix()
    }

    fn group_open(&mut self) -> Result<(), JavaRegexError> {
        self.pos += 1;
        let inherited = self.flags();
        if self.peek() != Some('?') {
            self.flag_stack.push(inherited);
            self.out.push('(');
            return Ok(());
        }
        match self.peek_at(1) {
            Some(':') => {
                self.pos += 2;
                self.flag_stack.push(inherited);
                self.out.push_str("(?:");
            }
            Some('=') | Some('!') => return Err(self.unsupported("look-ahead")),
            Some('>') => return Err(self.unsupported("atomic group")),
            Some('<') => match self.peek_at(2) {
                Some('=') | Some('!') => return Err(self.unsupported("look-behind")),
                _ => {
                    self.pos += 2;
                    let name = self.group_name()?;
                    self.flag_stack.push(inherited);
                    let _ = write!(self.out, "(?<{name}>");
                }
            },
            _ => {
                self.pos += 1;
                self.inline_flags(inherited)?;
            }
        }
        Ok(())
    }

    fn group_name(&mut self) -> Result<String, JavaRegexError> {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == '>' {
                let valid = name.chars().next().is_some_and(|f| f.is_ascii_alphabetic())
                    && name.chars().all(|c| c.is_ascii_alphanumeric());
                if !valid {
                    return Err(self.invalid("bad named-group name"));
                }
                return Ok(name);
            }
            name.push(c);
        }
        Err(self.invalid("unterminated group name"))
    }

    /// `(?idmsux-idmsux)` or `(?idmsux-idmsux:X)`.
    fn inline_flags(&mut self, inherited: Flags) -> Result<(), JavaRegexError> {
        let mut flags = inherited;
        let mut on = true;
        let mut passed = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.invalid("unclosed group"));
            };
            self.pos += 1;
            match c {
                '-' => {
                    on = false;
                    passed.push('-');
                }
                'i' => passed.push('i'),
                // Java `u` (UNICODE_CASE): the `regex` crate always folds Unicode case.
                'u' => {}
                's' => flags.dotall = on,
                'm' => flags.multiline = on,
                'd' => flags.unix_lines = on,
                'x' => {
                    flags.comments = on;
                    passed.push('x');
                }
                'U' => return Err(self.unsupported("UNICODE_CHARACTER_CLASS flag (?U)")),
                ')' => {
                    let passed = passed.trim_end_matches('-');
                    if !passed.is_empty() {
                        let _ = write!(self.out, "(?{passed})");
                    }
                    self.set_flags(flags);
                    return Ok(());
                }
                ':' => {
                    let passed = passed.trim_end_matches('-');
                    let _ = write!(self.out, "(?{passed}:");
                    self.flag_stack.push(flags);
                    return Ok(());
                }
                other => {
                    return Err(self.invalid(&format!("unknown inline modifier {other:?}")));
                }
            }
        }
    }

    /// An escape outside a character class.
    fn escape_outside_class(&mut self) -> Result<(), JavaRegexError> {
        let Some(c) = self.peek_at(1) else {
            return Err(self.invalid("unexpected internal error: trailing backslash"));
        };
        self.pos += 2;
        match c {
            'd' => push_class(&mut self.out, ASCII_DIGIT, false),
            'D' => push_class(&mut self.out, ASCII_DIGIT, true),
            'w' => push_class(&mut self.out, ASCII_WORD, false),
            'W' => push_class(&mut self.out, ASCII_WORD, true),
            's' => push_class(&mut self.out, ASCII_SPACE, false),
            'S' => push_class(&mut self.out, ASCII_SPACE, true),
            'h' => push_class(&mut self.out, HORIZONTAL_SPACE, false),
            'H' => push_class(&mut self.out, HORIZONTAL_SPACE, true),
            'v' => push_class(&mut self.out, VERTICAL_SPACE, false),
            'V' => push_class(&mut self.out, VERTICAL_SPACE, true),
            'R' => self
                .out
                .push_str(r"(?:\r\n|[\n\x0B\x0C\r\x{85}\x{2028}\x{2029}])"),
            'b' => self.out.push_str(r"\b"),
            'B' => self.out.push_str(r"\B"),
            'A' => self.out.push_str(r"\A"),
            'z' => self.out.push_str(r"\z"),
            'Z' => {
                if self.flags().multiline {
                    // `\Z` ignores MULTILINE in Java; approximate with end of input.
                    self.out.push_str(r"\z");
                } else {
                    self.end_anchor();
                }
            }
            'G' => return Err(self.unsupported(r"\G")),
            'k' => return Err(self.unsupported("named back-reference")),
            '1'..='9' => return Err(self.unsupported("back-reference")),
            'Q' => self.quoted(),
            'p' | 'P' => {
                let class = self.property(c == 'P')?;
                self.out.push_str(&class);
            }
            _ => {
                let literal = self.simple_escape(c)?;
                push_literal(&mut self.out, literal);
            }
        }
        Ok(())
    }

    /// `\Q…\E`: everything up to `\E` (or the end) is literal.
    fn quoted(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\\' && self.peek_at(1) == Some('E') {
                self.pos += 2;
                return;
            }
            push_literal(&mut self.out, c);
            self.pos += 1;
        }
    }

    /// Escapes denoting one character: `\t`, `\x41`, `\u00e9`, `\0101`, `\cA`, `\.` …
    /// `self.pos` is just after the escape letter.
    fn simple_escape(&mut self, c: char) -> Result<char, JavaRegexError> {
        let ch = match c {
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'f' => '\x0C',
            'a' => '\x07',
            'e' => '\x1B',
            '0' => {
                let mut value = 0u32;
                let mut digits = 0;
                while let Some(d) = self.peek().and_then(|d| d.to_digit(8)) {
                    if digits == 3 || (digits == 2 && value > 0o37) {
                        break;
                    }
                    value = value * 8 + d;
                    digits += 1;
                    self.pos += 1;
                }
                if digits == 0 {
                    return Err(self.invalid("illegal octal escape sequence"));
                }
                char::from_u32(value).ok_or_else(|| self.invalid("bad octal escape"))?
            }
            'x' => {
                if self.peek() == Some('{') {
                    let end = self.chars[self.pos..]
                        .iter()
                        .position(|&c| c == '}')
                        .ok_or_else(|| self.invalid("unclosed hexadecimal escape"))?;
                    let hex: String = self.chars[self.pos + 1..self.pos + end].iter().collect();
                    self.pos += end + 1;
                    self.hex_char(&hex)?
                } else {
                    self.fixed_hex(2)?
                }
            }
            'u' => self.fixed_hex(4)?,
            'c' => {
                let Some(x) = self.peek() else {
                    return Err(self.invalid("illegal control escape sequence"));
                };
                self.pos += 1;
                char::from_u32(u32::from(x) ^ 64)
                    .ok_or_else(|| self.invalid("illegal control escape"))?
            }
            c if c.is_ascii_alphanumeric() => {
                return Err(self.invalid(&format!("illegal/unsupported escape sequence \\{c}")));
            }
            c => c,
        };
        Ok(ch)
    }

    fn fixed_hex(&mut self, n: usize) -> Result<char, JavaRegexError> {
        if self.pos + n > self.chars.len() {
            return Err(self.invalid("illegal hexadecimal escape sequence"));
        }
        let hex: String = self.chars[self.pos..self.pos + n].iter().collect();
        self.pos += n;
        self.hex_char(&hex)
    }

    fn hex_char(&self, hex: &str) -> Result<char, JavaRegexError> {
        let value = u32::from_str_radix(hex, 16)
            .map_err(|_| self.invalid("illegal hexadecimal escape sequence"))?;
        char::from_u32(value).ok_or_else(|| self.unsupported("surrogate code unit escape"))
    }

    /// `\p{Name}` / `\pL` / `\P{Name}` → a `regex` class (with brackets).
    fn property(&mut self, negated: bool) -> Result<String, JavaRegexError> {
        let name: String = match self.peek() {
            Some('{') => {
                let end = self.chars[self.pos..]
                    .iter()
                    .position(|&c| c == '}')
                    .ok_or_else(|| self.invalid("unclosed character family"))?;
                let name = self.chars[self.pos + 1..self.pos + end].iter().collect();
                self.pos += end + 1;
                name
            }
            Some(c) => {
                self.pos += 1;
                c.to_string()
            }
            None => return Err(self.invalid("illegal character family")),
        };
        let body = self.property_body(&name)?;
        Ok(if negated {
            format!("[^{body}]")
        } else {
            format!("[{body}]")
        })
    }

    /// The inside of a character class for a Java property name.
    fn property_body(&self, name: &str) -> Result<String, JavaRegexError> {
        let posix = match name {
            "Lower" => Some("a-z"),
            "Upper" => Some("A-Z"),
            "ASCII" => Some(r"\x00-\x7F"),
            "Alpha" => Some("a-zA-Z"),
            "Digit" => Some("0-9"),
            "Alnum" => Some("a-zA-Z0-9"),
            "Punct" => Some(r"!-/:-@\[-`{-~"),
            "Graph" => Some(r"!-~"),
            "Print" => Some(r"\x20-~"),
            "Blank" => Some(r"\x20\t"),
            "Cntrl" => Some(r"\x00-\x1F\x7F"),
            "XDigit" => Some("0-9a-fA-F"),
            "Space" => Some(ASCII_SPACE),
            _ => None,
        };
        if let Some(body) = posix {
            return Ok(body.to_owned());
        }
        let java = match name {
            "javaLowerCase" => Some(r"\p{Lowercase}"),
            "javaUpperCase" => Some(r"\p{Uppercase}"),
            "javaWhitespace" => Some(r"\t-\r\x1C-\x1F\p{Zs}\p{Zl}\p{Zp}&&[^\xA0\x{2007}\x{202F}]"),
            "javaMirrored" => return Err(self.unsupported(r"\p{javaMirrored}")),
            _ => None,
        };
        if let Some(body) = java {
            return Ok(body.to_owned());
        }
        if name.starts_with("In") || name.starts_with("block=") || name.starts_with("blk=") {
            return Err(self.unsupported(&format!(r"Unicode block \p{{{name}}}")));
        }
        let stripped = name
            .strip_prefix("Is")
            .or_else(|| name.strip_prefix("general_category="))
            .or_else(|| name.strip_prefix("gc="))
            .or_else(|| name.strip_prefix("script="))
            .or_else(|| name.strip_prefix("sc="))
            .unwrap_or(name);
        let candidate = format!(r"\p{{{stripped}}}");
        // Let the `regex` crate decide whether it knows the property.
        if Regex::new(&candidate).is_err() {
            return Err(self.invalid(&format!("unknown character property {name:?}")));
        }
        Ok(candidate)
    }

    /// A character class `[...]`, possibly nested, with Java `&&` intersection.
    fn class(&mut self) -> Result<(), JavaRegexError> {
        self.pos += 1;
        self.out.push('[');
        if self.peek() == Some('^') {
            self.out.push('^');
            self.pos += 1;
        }
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.invalid("unclosed character class"));
            };
            match c {
                ']' if !first => {
                    self.out.push(']');
                    self.pos += 1;
                    return Ok(());
                }
                '[' => self.class()?,
                '&' if self.peek_at(1) == Some('&') => {
                    self.out.push_str("&&");
                    self.pos += 2;
                }
                '-' => {
                    // A range operator between two atoms, literal elsewhere (same rule as the
                    // `regex` crate), but never a `regex` set-difference `--`.
                    if self.peek_at(1) == Some('-') || first {
                        self.out.push_str(r"\-");
                    } else {
                        self.out.push('-');
                    }
                    self.pos += 1;
                }
                '\\' => self.escape_in_class()?,
                c if self.flags().comments && c.is_whitespace() => self.pos += 1,
                c => {
                    push_class_literal(&mut self.out, c);
                    self.pos += 1;
                }
            }
            first = false;
        }
    }

    fn escape_in_class(&mut self) -> Result<(), JavaRegexError> {
        let Some(c) = self.peek_at(1) else {
            return Err(self.invalid("trailing backslash"));
        };
        self.pos += 2;
        match c {
            'd' => self.out.push_str(ASCII_DIGIT),
            'w' => self.out.push_str(ASCII_WORD),
            's' => self.out.push_str(ASCII_SPACE),
            'h' => self.out.push_str(HORIZONTAL_SPACE),
            'v' => self.out.push_str(VERTICAL_SPACE),
            'D' => push_class(&mut self.out, ASCII_DIGIT, true),
            'W' => push_class(&mut self.out, ASCII_WORD, true),
            'S' => push_class(&mut self.out, ASCII_SPACE, true),
            'H' => push_class(&mut self.out, HORIZONTAL_SPACE, true),
            'V' => push_class(&mut self.out, VERTICAL_SPACE, true),
            'p' | 'P' => {
                let class = self.property(c == 'P')?;
                self.out.push_str(&class);
            }
            'Q' => {
                while let Some(q) = self.peek() {
                    if q == '\\' && self.peek_at(1) == Some('E') {
                        self.pos += 2;
                        break;
                    }
                    push_class_literal(&mut self.out, q);
                    self.pos += 1;
                }
            }
            _ => {
                let literal = self.simple_escape(c)?;
                push_class_literal(&mut self.out, literal);
            }
        }
        Ok(())
    }
}

fn push_class(out: &mut String, body: &str, negated: bool) {
    out.push('[');
    if negated {
        out.push('^');
    }
    out.push_str(body);
    out.push(']');
}

fn push_literal(out: &mut String, c: char) {
    if c.is_ascii_punctuation() || c == ' ' || c.is_control() {
        let _ = write!(out, r"\x{{{:X}}}", u32::from(c));
    } else {
        out.push(c);
    }
}

fn push_class_literal(out: &mut String, c: char) {
    push_literal(out, c);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn re(p: &str) -> JavaRegex {
        JavaRegex::new(p).unwrap()
    }

    #[test]
    fn dot_excludes_java_line_terminators() {
        let dot = re("a.b");
        assert!(dot.matches("a\x0Bb"));
        assert!(dot.matches("a\x0Cb"));
        for t in ["\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"] {
            assert!(!dot.matches(&format!("a{t}b")), "{t:?}");
        }
        assert!(re("(?s)a.b").matches("a\rb"));
        assert!(re("(?d)a.b").matches("a\rb"));
        assert!(re("[.]").matches("."));
        assert!(!re("[.]").matches("x"));
    }

    #[test]
    fn shorthand_classes_are_ascii() {
        assert!(!re(r"\d").matches("٣"));
        assert!(!re(r"\w").matches("é"));
        assert!(!re(r"\s").matches("\u{A0}"));
        assert!(re(r"\s").matches("\x0B"));
        assert!(re(r"[\w\-]+").matches("a-b_9"));
        assert!(!re(r"[\w\-]+").matches("aé"));
        assert!(re(r"[^\d]").matches("x"));
        assert!(re(r"\D").matches("٣"));
    }

    #[test]
    fn dollar_matches_before_final_terminator() {
        let p = re("^---$");
        assert!(p.looking_at("---\n"));
        assert!(p.looking_at("---\r\n"));
        assert!(p.looking_at("---"));
        assert!(!p.looking_at("--- \n"));
        assert!(!p.looking_at("---\n\n"));
        assert!(p.matches("---"));
        assert!(!p.matches("---\n"));
    }

    #[test]
    fn looking_at_is_prefix_anchored() {
        let p = re(r"\d{4}-\d{2}-\d{2} ");
        assert!(p.looking_at("2024-01-01 10:00 x\n"));
        assert!(!p.looking_at("x2024-01-01 \n"));
        let u = re(r"\p{Lu}\p{L}+:");
        assert!(u.looking_at("Élan: x\n"));
        assert!(!u.looking_at("élan: x\n"));
    }

    #[test]
    fn named_groups_and_case_insensitive() {
        let p = re(r"(?i)(?<verb>get|post) (?<path>/\S*)(?: (?<proto>HTTP/[0-9.]+))?");
        assert_eq!(p.group_count(), 3);
        let caps = p.captures_whole("GET /x").unwrap();
        assert_eq!(caps, vec![Some("GET /x"), Some("GET"), Some("/x"), None]);
        assert!(p.captures_whole("PUT /x").is_none());
    }

    #[test]
    fn rejects_unsupported_constructs() {
        for p in [
            "a*+", "(?=a)", "(?!a)", "(?<=a)b", "(?<!a)b", "(?>a)", r"(a)\1", r"\G",
        ] {
            assert!(
                matches!(JavaRegex::new(p), Err(JavaRegexError::Unsupported { .. })),
                "{p}"
            );
        }
        for p in ["(", "a{", "[a", r"\y", ")"] {
            assert!(JavaRegex::new(p).is_err(), "{p}");
        }
    }

    #[test]
    fn java_split_semantics() {
        let comma = re(",");
        assert_eq!(comma.split("1,,3,"), vec!["1", "", "3"]);
        assert_eq!(comma.split(",2,3"), vec!["", "2", "3"]);
        assert_eq!(comma.split(""), vec![""]);
        assert_eq!(comma.split(",,,"), Vec::<Cow<str>>::new());
        let pipe = re("|");
        assert_eq!(pipe.split("ab|c"), vec!["a", "b", "|", "c"]);
        assert_eq!(pipe.split("a😀b"), vec!["a", "?", "?", "b"]);
        let dot = re(".");
        assert!(dot.split("abc").is_empty());
        assert_eq!(dot.split(""), vec![""]);
        assert!(JavaRegex::new("(").is_err());
    }

    #[test]
    fn escapes_translate() {
        assert!(re(r"\Qa.b\E").matches("a.b"));
        assert!(!re(r"\Qa.b\E").matches("axb"));
        assert!(re(r"\u00e9\x41\t\0101").matches("éA\tA"));
        assert!(re(r"\p{Alpha}+").matches("abC"));
        assert!(!re(r"\p{Alpha}").matches("é"));
        assert!(re(r"\p{IsLatin}").matches("é"));
        assert!(re("a b").matches("a b"));
        assert!(re("a{2,3}?").matches("aa"));
    }

    #[test]
    fn multiline_flag() {
        let p = JavaRegex::new_multiline("END OF FILE.*$").unwrap();
        assert!(p.matches("END OF FILE here"));
        assert!(p.find("x\nEND OF FILE\r\ny"));
    }
}
