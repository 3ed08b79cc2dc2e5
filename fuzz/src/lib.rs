//! Shared harness code for the firetail fuzz targets (one module per target family).
//!
//! Every check here asserts a property of the code under test; a panic in this crate IS
//! the finding, which is why `unwrap`/`expect`/`assert!` are used freely.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod config;
pub mod csv;
pub mod flat_json;
pub mod frame;
pub mod local_firehose;
pub mod logtojson;

/// Reads configuration knobs from the front of a fuzz input; the rest is the payload.
pub struct Knobs<'a> {
    bytes: &'a [u8],
}

impl<'a> Knobs<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Knobs { bytes }
    }

    /// The next knob byte (0 once the input is exhausted).
    pub fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((b, rest)) => {
                self.bytes = rest;
                *b
            }
            None => 0,
        }
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.bytes.split_at(n.min(self.bytes.len()));
        self.bytes = rest;
        head
    }

    /// Bytes up to (not including) the next `\n`, which is consumed; all bytes if none.
    pub fn line(&mut self) -> &'a [u8] {
        match memchr::memchr(b'\n', self.bytes) {
            Some(i) => {
                let head = &self.bytes[..i];
                self.bytes = &self.bytes[i + 1..];
                head
            }
            None => self.take(self.bytes.len()),
        }
    }

    /// Everything not consumed yet.
    pub fn rest(self) -> &'a [u8] {
        self.bytes
    }
}
