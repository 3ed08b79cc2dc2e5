//! The Kinesis Agent's periodic status lines, word for word (spec §6.3), so log alarms
//! and AWS's own benchmark scripts that parse them keep working after a switch.

use std::sync::atomic::Ordering::Relaxed;

use crate::daemon::counters::FlowCounters;

/// At or above this many bytes behind, the "behind" line is a WARN (10 × 4 MiB).
pub const BEHIND_WARN_BYTES: u64 = 41_943_040;
/// At or above this, INFO (5 × 4 MiB); below it and above 0, DEBUG.
pub const BEHIND_INFO_BYTES: u64 = 20_971_520;

/// `FileTailer[<flow>]: Tailer Progress: ...`. `bytes_read` is every byte read from the
/// flow's files (header lines, footers, discarded and unfinished bytes included), the
/// agent's `TotalBytesConsumed`, not only the bytes of the records parsed.
pub fn tailer_progress(c: &FlowCounters, bytes_read: u64) -> String {
    format!(
        "FileTailer[{}]: Tailer Progress: Tailer has parsed {} records ({} bytes), transformed {} records, skipped {} records, and has successfully sent {} records to destination.",
        c.flow_id,
        c.records_parsed.load(Relaxed),
        bytes_read,
        c.records_transformed.load(Relaxed),
        c.records_skipped.load(Relaxed),
        c.records_sent.load(Relaxed),
    )
}

/// `Agent: Progress: ...`
pub fn agent_progress(parsed: u64, bytes: u64, sent: u64, uptime_ms: u128) -> String {
    format!(
        "Agent: Progress: {parsed} records parsed ({bytes} bytes), and {sent} records sent successfully to destinations. Uptime: {uptime_ms}ms"
    )
}

/// How far a flow is behind, as the agent counts it: bytes in its files not read yet, and
/// files with unread bytes that wait for a descriptor (`firetail.maxOpenFiles`). firetail
/// reads every open file at once, so the latter is 0 unless that limit is reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unread {
    pub bytes: u64,
    pub files: usize,
}

impl Unread {
    pub fn of(tail: &firetail_tail::FlowTailStatus) -> Unread {
        let mut unread = Unread::default();
        for f in &tail.files {
            let left = f.size.saturating_sub(f.read_offset);
            unread.bytes += left;
            unread.files += usize::from(left > 0 && !f.open);
        }
        unread
    }
}

/// `<subject> is X MB (N bytes) behind.`: the MB figure divides by 1024 as an integer
/// first, then by 1024.0, and prints six decimals, exactly as the agent's Java does.
pub fn behind(subject: &str, bytes_behind: u64, files_behind: usize) -> String {
    let mb = (bytes_behind / 1024) as f64 / 1024.0;
    let mut line = format!("{subject} is {mb:.6} MB ({bytes_behind} bytes) behind.");
    if files_behind > 0 {
        line.push_str(&format!(
            " There are {files_behind} file(s) newer than current file(s) being tailed."
        ));
    }
    line
}

/// The level the agent logs a "behind" line at; `None` when it is not logged. With the
/// global `log.emitInternalMetrics` the line is INFO whatever the figure, even 0.
pub fn behind_level(bytes_behind: u64, emit_internal_metrics: bool) -> Option<tracing::Level> {
    if bytes_behind >= BEHIND_WARN_BYTES {
        Some(tracing::Level::WARN)
    } else if bytes_behind >= BEHIND_INFO_BYTES || emit_internal_metrics {
        Some(tracing::Level::INFO)
    } else if bytes_behind > 0 {
        Some(tracing::Level::DEBUG)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behind_line_matches_the_agents_issue_160_example() {
        assert_eq!(
            behind("FileTailer[fh:s:/var/log/app.log*]: Tailer", 170_588_298, 1),
            "FileTailer[fh:s:/var/log/app.log*]: Tailer is 162.685547 MB (170588298 bytes) behind. There are 1 file(s) newer than current file(s) being tailed."
        );
    }

    #[test]
    fn progress_lines_match_the_agents_issue_87_example() {
        let c = FlowCounters::new(
            "kinesis:STREAMING_FLUENTD:/data/log/json_log-all.estat.com*",
            "KinesisStream:STREAMING_FLUENTD",
        );
        c.records_parsed.store(215_457, Relaxed);
        c.records_sent.store(215_000, Relaxed);
        assert_eq!(
            tailer_progress(&c, 337_927_789),
            "FileTailer[kinesis:STREAMING_FLUENTD:/data/log/json_log-all.estat.com*]: Tailer Progress: Tailer has parsed 215457 records (337927789 bytes), transformed 0 records, skipped 0 records, and has successfully sent 215000 records to destination."
        );
        assert_eq!(
            agent_progress(215_457, 337_927_789, 215_000, 270_069),
            "Agent: Progress: 215457 records parsed (337927789 bytes), and 215000 records sent successfully to destinations. Uptime: 270069ms"
        );
    }

    #[test]
    fn unread_counts_bytes_not_read_and_files_waiting_for_a_descriptor() {
        let file = |size, read_offset, open| firetail_tail::FileStatus {
            path: "/var/log/a".into(),
            file: firetail_tail::FileId(size),
            size,
            acked_offset: 0,
            read_offset,
            open,
            rotated_away: false,
        };
        let tail = firetail_tail::FlowTailStatus {
            files: vec![
                file(100, 100, true),
                file(300, 200, true),
                file(50, 0, false),
            ],
            ..Default::default()
        };
        assert_eq!(
            Unread::of(&tail),
            Unread {
                bytes: 150,
                files: 1
            }
        );
    }

    #[test]
    fn behind_levels_follow_the_agents_thresholds() {
        assert_eq!(behind_level(0, true), Some(tracing::Level::INFO));
        assert_eq!(behind_level(0, false), None);
        assert_eq!(behind_level(1, false), Some(tracing::Level::DEBUG));
        assert_eq!(behind_level(1, true), Some(tracing::Level::INFO));
        assert_eq!(
            behind_level(BEHIND_INFO_BYTES, false),
            Some(tracing::Level::INFO)
        );
        assert_eq!(
            behind_level(BEHIND_WARN_BYTES, false),
            Some(tracing::Level::WARN)
        );
    }
}
