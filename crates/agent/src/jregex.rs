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
//! Java syntax the `regex` crate cannot express because it needs backtracking (look-ahead,
//! look-behind, atomic groups, possessive quantifiers, back-references, `\G`) sends the
//! pattern to a backtracking engine instead (`backtrack`, `fancy-regex`), with Java's
//! semantics and a bound on backtracking steps per match; every other pattern keeps the
//! linear-time engine. On the backtracking engine `$` is exact (a look-ahead), so the
//! retry described above is not needed there. Unicode blocks (`\p{InGreek}`), the `(?U)`
//! flag and `\p{javaMirrored}` are rejected with [`JavaRegexError::Unsupported`].

mod backtrack;

use std::borrow::Cow;
use std::fmt::Write as _;

use regex::Regex;

use backtrack::Backtracking;
pub use backtrack::{StepLimitExceeded, BACKTRACK_LIMIT};

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

/// Constructs that need a backtracking engine: a pattern using one is compiled by
/// fancy-regex (see [`backtrack`]).
const BACKTRACKING_CONSTRUCTS: &[&str] = &[
    "look-ahead",
    "look-behind",
    "atomic group",
    "possessive quantifier",
    "back-reference",
    "named back-reference",
    r"\G",
];

/// A compiled Java regex.
#[derive(Debug, Clone)]
pub struct JavaRegex {
    source: String,
    engine: Engine,
    /// The pattern contains a non-multiline `$`/`\Z` (linear engine only): retry on the
    /// text without its final line terminator.
    end_anchor_before_terminator: bool,
    /// `(?d)` was set at top level: only `\n` is a line terminator.
    unix_lines: bool,
}

/// Each engine holds the pattern three ways: `\A(?:P)` (`lookingAt`), `\A(?:P)\z`
/// (`matches`) and `P` (`find`, `split`).
#[derive(Debug, Clone)]
enum Engine {
    Linear {
        prefix: Regex,
        whole: Regex,
        unanchored: Regex,
    },
    Backtracking(Box<Backtracking>),
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
        match Translator::new(pattern, multiline, false).run() {
            Ok(translated) => Self::linear(pattern, translated),
            Err(JavaRegexError::Unsupported { construct, .. })
                if BACKTRACKING_CONSTRUCTS.contains(&construct.as_str()) =>
            {
                let translated = Translator::new(pattern, multiline, true).run()?;
                let engine = Backtracking::compile(&translated.text).map_err(|e| {
                    JavaRegexError::Invalid {
                        pattern: pattern.to_owned(),
                        reason: e.to_string(),
                    }
                })?;
                Ok(JavaRegex {
                    source: pattern.to_owned(),
                    engine: Engine::Backtracking(Box::new(engine)),
                    end_anchor_before_terminator: false,
                    unix_lines: translated.unix_lines,
                })
            }
            Err(e) => Err(e),
        }
    }

    fn linear(pattern: &str, translated: Translated) -> Result<JavaRegex, JavaRegexError> {
        let compile = |p: String| {
            Regex::new(&p).map_err(|e| JavaRegexError::Invalid {
                pattern: pattern.to_owned(),
                reason: e.to_string(),
            })
        };
        Ok(JavaRegex {
            source: pattern.to_owned(),
            engine: Engine::Linear {
                prefix: compile(format!(r"\A(?:{})", translated.text))?,
                whole: compile(format!(r"\A(?:{})\z", translated.text))?,
                unanchored: compile(translated.text.clone())?,
            },
            end_anchor_before_terminator: translated.has_end_anchor,
            unix_lines: translated.unix_lines,
        })
    }

    /// Whether this pattern runs on the backtracking engine (and can therefore fail
    /// with [`StepLimitExceeded`]).
    pub fn is_backtracking(&self) -> bool {
        matches!(self.engine, Engine::Backtracking(_))
    }

    /// How many match operations gave up at the step limit so far.
    pub fn step_limit_hits(&self) -> u64 {
        match &self.engine {
            Engine::Linear { .. } => 0,
            Engine::Backtracking(b) => b.hits(),
        }
    }

    /// The Java pattern this was compiled from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Number of capturing groups (Java `Matcher.groupCount()`).
    pub fn group_count(&self) -> usize {
        let len = match &self.engine {
            Engine::Linear { whole, .. } => whole.captures_len(),
            Engine::Backtracking(b) => b.whole.captures_len(),
        };
        len.saturating_sub(1)
    }

    /// Java `Matcher.lookingAt()`: a match anchored at the start that need not reach the end.
    pub fn looking_at(&self, text: &str) -> Result<bool, StepLimitExceeded> {
        match &self.engine {
            Engine::Linear { prefix, .. } => Ok(prefix.is_match(text)
                || self
                    .without_final_terminator(text)
                    .is_some_and(|t| prefix.is_match(t))),
            Engine::Backtracking(b) => b.check(&self.source, b.prefix.is_match(text)),
        }
    }

    /// Java `Matcher.matches()`: the whole text must match.
    pub fn matches(&self, text: &str) -> Result<bool, StepLimitExceeded> {
        match &self.engine {
            Engine::Linear { whole, .. } => Ok(whole.is_match(text)),
            Engine::Backtracking(b) => b.check(&self.source, b.whole.is_match(text)),
        }
    }

    /// Java `Matcher.find()` from the start: a match anywhere.
    pub fn find(&self, text: &str) -> Result<bool, StepLimitExceeded> {
        match &self.engine {
            Engine::Linear { unanchored, .. } => Ok(unanchored.is_match(text)
                || self
                    .without_final_terminator(text)
                    .is_some_and(|t| unanchored.is_match(t))),
            Engine::Backtracking(b) => b.check(&self.source, b.unanchored.is_match(text)),
        }
    }

    /// The groups of a whole-text match, Java-numbered: element 0 is the whole match, element
    /// `i` is `group(i)` (`None` when the group did not participate).
    pub fn captures_whole<'t>(
        &self,
        text: &'t str,
    ) -> Result<Option<Vec<Option<&'t str>>>, StepLimitExceeded> {
        match &self.engine {
            Engine::Linear { whole, .. } => Ok(whole
                .captures(text)
                .map(|caps| caps.iter().map(|m| m.map(|m| m.as_str())).collect())),
            Engine::Backtracking(b) => {
                let caps = b.check(&self.source, b.whole.captures(text))?;
                Ok(caps.map(|caps| caps.iter().map(|m| m.map(|m| m.as_str())).collect()))
            }
        }
    }

    /// Match boundaries of every non-overlapping match, left to right (`find` repeated).
    fn match_spans(&self, text: &str) -> Result<Vec<(usize, usize)>, StepLimitExceeded> {
        match &self.engine {
            Engine::Linear { unanchored, .. } => Ok(unanchored
                .find_iter(text)
                .map(|m| (m.start(), m.end()))
                .collect()),
            Engine::Backtracking(b) => b
                .unanchored
                .find_iter(text)
                .map(|m| b.check(&self.source, m).map(|m| (m.start(), m.end())))
                .collect(),
        }
    }

    /// Java `String.split(regex)` (limit 0): a zero-width match at the very start does not
    /// produce a leading empty string, trailing empty strings are removed, and a text without
    /// any match is returned whole (so `""` gives `[""]`).
    ///
    /// Java works on UTF-16: a pattern that matches the empty string also splits a
    /// supplementary character into its two surrogate halves. Such a half can only be written
    /// out as `?` (the agent's UTF-8 encoder replaces lone surrogates), so it is returned as
    /// `"?"` here.
    pub fn split<'t>(&self, text: &'t str) -> Result<Vec<Cow<'t, str>>, StepLimitExceeded> {
        let mut pieces: Vec<Cow<'t, str>> = Vec::new();
        let mut index = 0usize;
        let splits_surrogates = self.looking_at("")?;
        for (start, end) in self.match_spans(text)? {
            if start == 0 && end == 0 {
                continue;
            }
            if splits_surrogates && start == end {
                // Java would also have matched between the surrogate halves of the
                // supplementary character just before this position.
                if let Some(c) = text[index..start].chars().next_back() {
                    if c.len_utf16() == 2 && index + c.len_utf8() == start {
                        pieces.push(Cow::Borrowed("?"));
                        pieces.push(Cow::Borrowed("?"));
                        index = end;
                        continue;
                    }
                }
            }
            pieces.push(Cow::Borrowed(&text[index..start]));
            index = end;
        }
        if index == 0 {
            // No match (a zero-width match at the start does not count).
            return Ok(vec![Cow::Borrowed(text)]);
        }
        pieces.push(Cow::Borrowed(&text[index..]));
        while pieces.last().is_some_and(|p| p.is_empty()) {
            pieces.pop();
        }
        Ok(pieces)
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
    /// Emit backtracking constructs for fancy-regex instead of rejecting them.
    fancy: bool,
    /// Capturing groups opened so far (Java reads `\12` as group 12 only if it exists).
    groups: usize,
}

impl<'p> Translator<'p> {
    fn new(pattern: &'p str, multiline: bool, fancy: bool) -> Self {
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
            fancy,
            groups: 0,
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
        } else if self.fancy {
            // Java's `$`: the end, or before a final line terminator (`\r\n` counting as
            // one, so never between its two characters).
            self.out.push_str(if self.flags().unix_lines {
                r"(?:\z|(?=\n\z))"
            } else {
                r"(?:\z|(?=(?:\r\n|[\r\x{85}\x{2028}\x{2029}])\z)|(?<!\r)(?=\n\z))"
            });
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

    /// After a quantifier: lazy `?` passes through, possessive `+` needs backtracking.
    fn quantifier_suffix(&mut self) -> Result<(), JavaRegexError> {
        match self.peek() {
            Some('?') => {
                self.out.push('?');
                self.pos += 1;
            }
            Some('+') if self.fancy => {
                self.out.push('+');
                self.pos += 1;
            }
            Some('+') => return Err(self.unsupported("possessive quantifier")),
            _ => {}
        }
        Ok(())
    }

    /// Look-around and atomic groups: passed to fancy-regex as written (the same syntax),
    /// or rejected so the pattern is compiled there.
    fn backtracking_group(
        &mut self,
        construct: &str,
        opener: &str,
        inherited: Flags,
    ) -> Result<(), JavaRegexError> {
        if !self.fancy {
            return Err(self.unsupported(construct));
        }
        self.pos += opener.len() - 1;
        self.flag_stack.push(inherited);
        self.out.push_str(opener);
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
            self.groups += 1;
            return Ok(());
        }
        match self.peek_at(1) {
            Some(':') => {
                self.pos += 2;
                self.flag_stack.push(inherited);
                self.out.push_str("(?:");
            }
            Some('=') => self.backtracking_group("look-ahead", "(?=", inherited)?,
            Some('!') => self.backtracking_group("look-ahead", "(?!", inherited)?,
            Some('>') => self.backtracking_group("atomic group", "(?>", inherited)?,
            Some('<') => match self.peek_at(2) {
                Some('=') => self.backtracking_group("look-behind", "(?<=", inherited)?,
                Some('!') => self.backtracking_group("look-behind", "(?<!", inherited)?,
                _ => {
                    self.pos += 2;
                    let name = self.group_name()?;
                    self.flag_stack.push(inherited);
                    self.groups += 1;
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
            'G' if self.fancy => self.out.push_str(r"\G"),
            'G' => return Err(self.unsupported(r"\G")),
            'k' if self.fancy => {
                if self.peek() != Some('<') {
                    return Err(
                        self.invalid(r"\k is not followed by '<' for named capturing group")
                    );
                }
                self.pos += 1;
                let name = self.group_name()?;
                let _ = write!(self.out, r"(?:\k<{name}>)");
            }
            'k' => return Err(self.unsupported("named back-reference")),
            '1'..='9' if self.fancy => self.back_reference(c),
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

    /// `\N`: Java reads further digits only while the number names a group opened so far
    /// (`\11` with one group is group 1, then a literal `1`). `self.pos` is just after the
    /// first digit. Wrapped in a group so a following literal digit stays apart.
    fn back_reference(&mut self, first: char) {
        let mut number = first.to_digit(10).unwrap_or(1) as usize;
        while let Some(d) = self.peek().and_then(|d| d.to_digit(10)) {
            let longer = number * 10 + d as usize;
            if longer > self.groups {
                break;
            }
            number = longer;
            self.pos += 1;
        }
        let _ = write!(self.out, r"(?:\{number})");
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
        assert!(dot.matches("a\x0Bb").unwrap());
        assert!(dot.matches("a\x0Cb").unwrap());
        for t in ["\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"] {
            assert!(!dot.matches(&format!("a{t}b")).unwrap(), "{t:?}");
        }
        assert!(re("(?s)a.b").matches("a\rb").unwrap());
        assert!(re("(?d)a.b").matches("a\rb").unwrap());
        assert!(re("[.]").matches(".").unwrap());
        assert!(!re("[.]").matches("x").unwrap());
    }

    #[test]
    fn shorthand_classes_are_ascii() {
        assert!(!re(r"\d").matches("٣").unwrap());
        assert!(!re(r"\w").matches("é").unwrap());
        assert!(!re(r"\s").matches("\u{A0}").unwrap());
        assert!(re(r"\s").matches("\x0B").unwrap());
        assert!(re(r"[\w\-]+").matches("a-b_9").unwrap());
        assert!(!re(r"[\w\-]+").matches("aé").unwrap());
        assert!(re(r"[^\d]").matches("x").unwrap());
        assert!(re(r"\D").matches("٣").unwrap());
    }

    #[test]
    fn dollar_matches_before_final_terminator() {
        let p = re("^---$");
        assert!(p.looking_at("---\n").unwrap());
        assert!(p.looking_at("---\r\n").unwrap());
        assert!(p.looking_at("---").unwrap());
        assert!(!p.looking_at("--- \n").unwrap());
        assert!(!p.looking_at("---\n\n").unwrap());
        assert!(p.matches("---").unwrap());
        assert!(!p.matches("---\n").unwrap());
    }

    #[test]
    fn looking_at_is_prefix_anchored() {
        let p = re(r"\d{4}-\d{2}-\d{2} ");
        assert!(p.looking_at("2024-01-01 10:00 x\n").unwrap());
        assert!(!p.looking_at("x2024-01-01 \n").unwrap());
        let u = re(r"\p{Lu}\p{L}+:");
        assert!(u.looking_at("Élan: x\n").unwrap());
        assert!(!u.looking_at("élan: x\n").unwrap());
    }

    #[test]
    fn named_groups_and_case_insensitive() {
        let p = re(r"(?i)(?<verb>get|post) (?<path>/\S*)(?: (?<proto>HTTP/[0-9.]+))?");
        assert_eq!(p.group_count(), 3);
        let caps = p.captures_whole("GET /x").unwrap().unwrap();
        assert_eq!(caps, vec![Some("GET /x"), Some("GET"), Some("/x"), None]);
        assert!(p.captures_whole("PUT /x").unwrap().is_none());
    }

    #[test]
    fn backtracking_constructs_run_on_the_backtracking_engine() {
        for p in [
            "a*+",
            "(?=a)",
            "(?!a)",
            "(?<=a)b",
            "(?<!a)b",
            "(?>a)",
            r"(a)\1",
            r"\G",
            r"(?<n>a)\k<n>",
        ] {
            assert!(re(p).is_backtracking(), "{p}");
        }
        assert!(!re(r"\d{4}-\d{2}").is_backtracking());
        for p in [r"\p{InGreek}", "(?U)a", r"\p{javaMirrored}"] {
            assert!(
                matches!(JavaRegex::new(p), Err(JavaRegexError::Unsupported { .. })),
                "{p}"
            );
        }
        for p in ["(", "a{", "[a", r"\y", ")", r"(?=a", r"\k<1x>"] {
            assert!(JavaRegex::new(p).is_err(), "{p}");
        }
    }

    #[test]
    fn look_around_has_java_semantics() {
        // The usual multiLineStartPattern: a line that does not start with whitespace.
        let start = re(r"^(?!\s)");
        assert!(start.looking_at("2024-01-01 boom\n").unwrap());
        assert!(!start.looking_at("\tat A.b(A.java:1)\n").unwrap());
        assert!(!start.looking_at(" continued\n").unwrap());
        let behind = re(r"(?<=\[)\d+(?=\])");
        assert!(behind.find("id=[42]").unwrap());
        assert!(!behind.find("id=42]").unwrap());
        assert!(re(r"(?<!\\)\|").find("a|b").unwrap());
        assert!(!re(r"(?<!\\)\|").find("a\\|b").unwrap());
    }

    #[test]
    fn atomic_groups_and_possessive_quantifiers_do_not_give_back() {
        assert!(re("(?>a+)b").matches("aab").unwrap());
        assert!(!re("(?>a+)ab").matches("aab").unwrap());
        assert!(re("a++b").matches("aab").unwrap());
        assert!(!re("a++ab").matches("aab").unwrap());
        assert!(!re(r"\d{2,3}+3").matches("123").unwrap());
        assert!(re(r"\d{2,3}3").matches("123").unwrap());
        assert!(re(r"[a-z]*+\d").matches("abc1").unwrap());
    }

    #[test]
    fn back_references_follow_javas_numbering() {
        let pair = re(r"(\w)\1");
        assert!(pair.matches("aa").unwrap());
        assert!(!pair.matches("ab").unwrap());
        // One group: `\11` is group 1 then a literal `1`.
        assert!(re(r"(a)\11").matches("aa1").unwrap());
        let many = re(r"(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)\11");
        assert!(many.matches("abcdefghijkk").unwrap());
        assert!(re(r"(?<q>['\x22])[^'\x22]*\k<q>").matches("'x'").unwrap());
        assert!(!re(r"(?<q>['\x22])[^'\x22]*\k<q>")
            .matches("'x\x22")
            .unwrap());
        let caps = re(r"(\w+)=\1").captures_whole("ab=ab").unwrap().unwrap();
        assert_eq!(caps, vec![Some("ab=ab"), Some("ab")]);
    }

    #[test]
    fn dollar_is_exact_on_the_backtracking_engine() {
        let p = re(r"(?=\w)\w+$");
        assert!(p.looking_at("abc\n").unwrap());
        assert!(p.looking_at("abc\r\n").unwrap());
        assert!(p.looking_at("abc\u{2028}").unwrap());
        assert!(!p.looking_at("abc\n\n").unwrap());
        assert!(!p.matches("abc\n").unwrap());
        // A terminator consumed after `$` (the linear engine's documented gap); Java's
        // `$` before a final `\r\n` is followed by that `\r`.
        assert!(re("(?=a)a$\n").matches("a\n").unwrap());
        assert!(re(r"(?=a)a$\r").find("a\r\n").unwrap());
        assert!(!re(r"(?=a)a$\n").find("a\r\n").unwrap());
        assert!(re(r"(?d)(?=a)a$").looking_at("a\n").unwrap());
        assert!(!re(r"(?d)(?=a)a$").looking_at("a\r").unwrap());
    }

    #[test]
    fn a_hostile_pattern_gives_up_at_the_step_limit_and_is_counted() {
        let hostile = re(r"(?:(a|aa)+)+(?!a)\1b");
        let input = "a".repeat(40);
        let started = std::time::Instant::now();
        let result = hostile.matches(&input);
        let took = started.elapsed();
        assert!(
            matches!(
                result,
                Err(StepLimitExceeded {
                    limit: BACKTRACK_LIMIT,
                    ..
                })
            ),
            "{result:?}"
        );
        assert_eq!(hostile.step_limit_hits(), 1);
        assert!(hostile.split(&input).is_err());
        assert_eq!(
            hostile.clone().step_limit_hits(),
            2,
            "clones share the count"
        );
        eprintln!("one operation at the step limit took {took:?}");
        assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn java_split_semantics() {
        let comma = re(",");
        assert_eq!(comma.split("1,,3,").unwrap(), vec!["1", "", "3"]);
        assert_eq!(comma.split(",2,3").unwrap(), vec!["", "2", "3"]);
        assert_eq!(comma.split("").unwrap(), vec![""]);
        assert_eq!(comma.split(",,,").unwrap(), Vec::<Cow<str>>::new());
        let pipe = re("|");
        assert_eq!(pipe.split("ab|c").unwrap(), vec!["a", "b", "|", "c"]);
        assert_eq!(pipe.split("a😀b").unwrap(), vec!["a", "?", "?", "b"]);
        let dot = re(".");
        assert!(dot.split("abc").unwrap().is_empty());
        assert_eq!(dot.split("").unwrap(), vec![""]);
        assert!(JavaRegex::new("(").is_err());
    }

    #[test]
    fn escapes_translate() {
        assert!(re(r"\Qa.b\E").matches("a.b").unwrap());
        assert!(!re(r"\Qa.b\E").matches("axb").unwrap());
        assert!(re(r"\u00e9\x41\t\0101").matches("éA\tA").unwrap());
        assert!(re(r"\p{Alpha}+").matches("abC").unwrap());
        assert!(!re(r"\p{Alpha}").matches("é").unwrap());
        assert!(re(r"\p{IsLatin}").matches("é").unwrap());
        assert!(re("a b").matches("a b").unwrap());
        assert!(re("a{2,3}?").matches("aa").unwrap());
    }

    #[test]
    fn multiline_flag() {
        let p = JavaRegex::new_multiline("END OF FILE.*$").unwrap();
        assert!(p.matches("END OF FILE here").unwrap());
        assert!(p.find("x\nEND OF FILE\r\ny").unwrap());
    }
}
