//! Where an `END_OF_FILE` start begins.

/// Where `initialPosition: END_OF_FILE` starts reading a file seen for the first time:
/// just after the last `\n` of `window`, the last read-buffer-size bytes of the file
/// (beginning at file offset `window_start`). Without a `\n` in the window the agent
/// starts at the window's start, in mid-record.
pub fn end_of_file_start(window: &[u8], window_start: u64) -> u64 {
    match memchr::memrchr(b'\n', window) {
        Some(i) => window_start + i as u64 + 1,
        None => window_start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_of_file_starts_after_the_last_newline() {
        assert_eq!(end_of_file_start(b"old1\nold2\nold-partial", 0), 10);
        assert_eq!(end_of_file_start(b"no newline", 100), 100);
        assert_eq!(end_of_file_start(b"a\n", 5), 7);
    }
}
