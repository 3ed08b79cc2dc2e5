//! The backtracking engine behind Java patterns that need one (look-around, atomic groups,
//! possessive quantifiers, back-references, `\G`): `fancy-regex`, which runs the parts of a
//! pattern that need no backtracking on the linear-time `regex` crate and the rest on its
//! own backtracking VM.
//!
//! A backtracking engine can take exponential time on a hostile pattern and input
//! (`(a+)+$` against a long run of `a`s ending in `b`). Java would spin, or throw a
//! `StackOverflowError` that the agent turns into a raw record. firetail bounds every
//! match at [`BACKTRACK_LIMIT`] backtracking steps: past it the operation fails with
//! [`StepLimitExceeded`], which each caller turns into the agent's outcome for a failed
//! conversion (the record is sent raw), counts (`firetail_regex_step_limit_total`) and
//! logs (at most once a minute per pattern), so one record can never stall a flow.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::log_gate::LogGate;

/// Backtracking steps allowed per match operation: fancy-regex's own default. One
/// operation at the limit took 0.2 s in a debug build on the 2-core test machine
/// (`a_hostile_pattern_gives_up_at_the_step_limit_and_is_counted` prints it).
pub const BACKTRACK_LIMIT: usize = 1_000_000;

/// How often the step-limit warning may be logged per pattern.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// A match operation gave up after [`BACKTRACK_LIMIT`] backtracking steps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("regex {pattern:?} gave up after {limit} backtracking steps on this input")]
pub struct StepLimitExceeded {
    /// The Java pattern.
    pub pattern: String,
    /// The step limit.
    pub limit: usize,
}

/// The three compiled forms a [`super::JavaRegex`] needs, on the backtracking engine.
#[derive(Debug, Clone)]
pub(super) struct Backtracking {
    pub prefix: fancy_regex::Regex,
    pub whole: fancy_regex::Regex,
    pub unanchored: fancy_regex::Regex,
    hits: Arc<HitLog>,
}

#[derive(Debug)]
struct HitLog {
    hits: AtomicU64,
    warning: LogGate,
}

impl Default for HitLog {
    fn default() -> HitLog {
        HitLog {
            hits: AtomicU64::new(0),
            warning: LogGate::new(WARN_EVERY),
        }
    }
}

impl Backtracking {
    /// Compiles the translated pattern `text` (fancy-regex syntax) in its three forms.
    pub fn compile(text: &str) -> Result<Backtracking, fancy_regex::Error> {
        let build = |p: String| {
            fancy_regex::RegexBuilder::new(&p)
                .backtrack_limit(BACKTRACK_LIMIT)
                .build()
        };
        Ok(Backtracking {
            prefix: build(format!(r"\A(?:{text})"))?,
            whole: build(format!(r"\A(?:{text})\z"))?,
            unanchored: build(text.to_owned())?,
            hits: Arc::default(),
        })
    }

    /// How many operations gave up so far (all clones of this regex together).
    pub fn hits(&self) -> u64 {
        self.hits.hits.load(Relaxed)
    }

    /// Turns a fancy-regex result into ours, counting and logging a step-limit failure.
    /// Any other runtime error (none is expected for `&str` input) is treated the same:
    /// the operation could not decide, and the record is handled as for a failure.
    pub fn check<T>(
        &self,
        source: &str,
        result: Result<T, fancy_regex::Error>,
    ) -> Result<T, StepLimitExceeded> {
        result.map_err(|e| self.gave_up(source, &e))
    }

    fn gave_up(&self, source: &str, e: &fancy_regex::Error) -> StepLimitExceeded {
        let hits = self.hits.hits.fetch_add(1, Relaxed) + 1;
        metrics::counter!("firetail_regex_step_limit_total", "pattern" => source.to_owned())
            .increment(1);
        if self.hits.warning.due() {
            tracing::warn!(
                pattern = source,
                hits,
                "regex gave up on a record ({e}); the record is handled as a failed match \
                 (converters send it raw, framing keeps its bytes); repeats are counted in \
                 firetail_regex_step_limit_total and logged at most once a minute"
            );
        }
        StepLimitExceeded {
            pattern: source.to_owned(),
            limit: BACKTRACK_LIMIT,
        }
    }
}
