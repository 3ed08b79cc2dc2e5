//! The daemon's state at a glance: what `GET /status` serves, what `firetail status`
//! prints, and what the one-line `STATUS=` in `systemctl status` says.
//!
//! The types are shared by the server (which builds them from the flows' counters and
//! tail status) and the client (which deserializes them), so the two cannot drift apart.
//! Every field the client reads has a default, so a newer `firetail status` still reads
//! an older daemon's answer during an upgrade.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::FlowView;

/// How far back the records/s figure looks. Long enough to smooth out batching (a
/// flow sends every `maxBufferAgeMillis`, 1 s by default in tests, up to 15 min in
/// theory), short enough to show a stall within a status period.
pub const RATE_WINDOW: Duration = Duration::from_secs(30);

/// A failure younger than this makes `firetail status` warn even while the flow
/// delivers (throttling that comes and goes, records rejected now and then).
pub const RECENT_ERROR: Duration = Duration::from_secs(300);

/// Everything `GET /status` answers.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StatusSnapshot {
    /// The daemon's version (`firetail --version` without the name).
    pub version: String,
    pub pid: u32,
    pub uptime_seconds: f64,
    /// The same verdict as `/health/ready`.
    pub ready: bool,
    pub checkpoints: Option<CheckpointSnapshot>,
    pub flows: Vec<FlowSnapshot>,
}

/// The checkpoint file.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CheckpointSnapshot {
    pub path: String,
    /// False while writes fail (full or read-only file system).
    pub saved: bool,
    pub error: Option<String>,
    /// Seconds since the file was last written (its modification time); `None` before
    /// the first write. The daemon writes it only when a checkpoint moved, so an idle
    /// daemon's file grows old without anything being wrong.
    pub written_seconds_ago: Option<f64>,
}

/// One flow.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FlowSnapshot {
    pub id: String,
    /// `DeliveryStream:<name>` or `KinesisStream:<name>`.
    pub destination: String,
    pub ready: bool,
    /// Why the flow is (not) ready, as `/health/ready` says it.
    pub reason: String,
    pub records_read: u64,
    pub records_sent: u64,
    pub bytes_sent: u64,
    /// Records accepted per second over the last [`RATE_WINDOW`]; `None` right after
    /// start, before there is anything to compare with.
    pub records_per_second: Option<f64>,
    /// Bytes not acknowledged yet, summed over the flow's files (`firetail_bytes_behind`).
    pub bytes_behind: u64,
    pub seconds_since_last_send: Option<f64>,
    /// The latest failure of any kind, even one the flow has recovered from.
    pub last_error: Option<ErrorSnapshot>,
    pub files: Vec<FileSnapshot>,
}

/// A failure and its age.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ErrorSnapshot {
    pub message: String,
    pub seconds_ago: f64,
}

/// One file of a flow.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FileSnapshot {
    pub path: String,
    pub size: u64,
    /// Every byte before it was read.
    pub read_offset: u64,
    /// The checkpoint: every byte before it was acknowledged by the destination.
    pub acked_offset: u64,
    /// `size - acked_offset`: what a restart would read again.
    pub bytes_behind: u64,
    pub open: bool,
    /// No longer matches the pattern (rotated away or deleted); drained, then closed.
    pub rotated_away: bool,
    /// Seconds since this file's checkpoint (`acked_offset`) last moved, counted at most
    /// from when the daemon first saw the file. Old while bytes are behind means stuck; old with
    /// nothing behind only means the file is idle.
    pub checkpoint_age_seconds: Option<f64>,
}

/// How healthy the daemon is, in the Nagios plugin sense.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Ok,
    Warning,
    Critical,
}

impl Health {
    pub fn label(self) -> &'static str {
        match self {
            Health::Ok => "OK",
            Health::Warning => "WARNING",
            Health::Critical => "CRITICAL",
        }
    }
}

impl StatusSnapshot {
    /// The verdict and its reasons: CRITICAL when not ready (a flow failing permanently
    /// or holding data it never delivered, checkpoints not saved); WARNING when ready but
    /// a flow had a failure within [`RECENT_ERROR`] or is `warn_behind` bytes or more
    /// behind; else OK.
    pub fn health(&self, warn_behind: u64) -> (Health, Vec<String>) {
        let mut reasons = Vec::new();
        let mut health = Health::Ok;
        if let Some(cp) = self.checkpoints.as_ref().filter(|c| !c.saved) {
            health = Health::Critical;
            let error = cp.error.as_deref().unwrap_or("unknown error");
            reasons.push(format!("checkpoints not saved: {error}"));
        }
        for f in &self.flows {
            if !f.ready {
                health = Health::Critical;
                reasons.push(format!("{}: {}", f.id, f.reason));
                continue;
            }
            if f.bytes_behind >= warn_behind {
                health = health.max(Health::Warning);
                reasons.push(format!("{}: {} behind", f.id, human_bytes(f.bytes_behind)));
            }
            if let Some(e) = f
                .last_error
                .as_ref()
                .filter(|e| e.seconds_ago < RECENT_ERROR.as_secs_f64())
            {
                health = health.max(Health::Warning);
                reasons.push(format!(
                    "{}: {} {} ago",
                    f.id,
                    e.message,
                    human_age(e.seconds_ago)
                ));
            }
        }
        if !self.ready && health < Health::Critical {
            health = Health::Critical;
            reasons.push("not ready".to_owned());
        }
        (health, reasons)
    }

    /// Records per second summed over the flows; `None` when no flow has a figure yet.
    pub fn records_per_second(&self) -> Option<f64> {
        let rates: Vec<f64> = self
            .flows
            .iter()
            .filter_map(|f| f.records_per_second)
            .collect();
        (!rates.is_empty()).then(|| rates.iter().sum())
    }

    pub fn bytes_behind(&self) -> u64 {
        self.flows.iter().map(|f| f.bytes_behind).sum()
    }

    /// The most recent failure over all flows, with its flow.
    pub fn last_error(&self) -> Option<(&FlowSnapshot, &ErrorSnapshot)> {
        self.flows
            .iter()
            .filter_map(|f| f.last_error.as_ref().map(|e| (f, e)))
            .min_by(|a, b| a.1.seconds_ago.total_cmp(&b.1.seconds_ago))
    }

    /// One line for `systemctl status` (`STATUS=`): flows, records/s, bytes behind, the
    /// last error. For example `2 flows (2 ready), 1523 records/s, 0 B behind, last
    /// error: none`.
    pub fn one_line(&self) -> String {
        let n = self.flows.len();
        let ready = self.flows.iter().filter(|f| f.ready).count();
        let rate = self
            .records_per_second()
            .map_or_else(|| "-".to_owned(), human_rate);
        let error = match self.last_error() {
            Some((flow, e)) => format!(
                "{} {} ago ({})",
                e.message,
                human_age(e.seconds_ago),
                flow.id
            ),
            None => "none".to_owned(),
        };
        let checkpoints = match &self.checkpoints {
            Some(cp) if !cp.saved => ", CHECKPOINTS NOT SAVED",
            _ => "",
        };
        format!(
            "{n} flow{} ({ready} ready), {rate} records/s, {} behind, last error: {error}{checkpoints}",
            if n == 1 { "" } else { "s" },
            human_bytes(self.bytes_behind()),
        )
    }
}

/// What a snapshot needs from the past, sampled at every upkeep tick and every
/// snapshot, so the pipeline keeps no clock of its own: each flow's records accepted
/// (for records/s) and when each file's checkpoint last moved.
#[derive(Default)]
pub struct Tracker {
    inner: Mutex<TrackerState>,
}

#[derive(Default)]
struct TrackerState {
    /// Per flow: (when, records sent), oldest first, covering [`RATE_WINDOW`].
    sent: BTreeMap<String, VecDeque<(Instant, u64)>>,
    /// Per (flow, file): the acknowledged offset last seen, and since when.
    offsets: BTreeMap<(String, u64), (u64, Instant)>,
}

impl Tracker {
    /// Records each flow's `records_sent` and each file's acknowledged offset now,
    /// forgetting samples older than the window (the newest of those stays as the
    /// baseline) and flows and files that are gone.
    pub fn sample(&self, flows: &[FlowView]) {
        let now = Instant::now();
        let Ok(mut state) = self.inner.lock() else {
            return;
        };
        let TrackerState { sent, offsets } = &mut *state;
        sent.retain(|id, _| flows.iter().any(|f| f.counters.flow_id == *id));
        let mut seen = std::collections::BTreeSet::new();
        for f in flows {
            let id = &f.counters.flow_id;
            let series = sent.entry(id.clone()).or_default();
            // At most one sample a second, however often `/status` is asked.
            if series
                .back()
                .is_none_or(|(at, _)| *at + Duration::from_secs(1) <= now)
            {
                series.push_back((now, f.counters.records_sent.load(Relaxed)));
            }
            while series.len() > 2 && series[1].0 + RATE_WINDOW <= now {
                series.pop_front();
            }
            for file in &f.status.borrow().files {
                let key = (id.clone(), file.file.0);
                let entry = offsets
                    .entry(key.clone())
                    .or_insert((file.acked_offset, now));
                if entry.0 != file.acked_offset {
                    *entry = (file.acked_offset, now);
                }
                seen.insert(key);
            }
        }
        offsets.retain(|key, _| seen.contains(key));
    }

    /// Records per second of `flow` from its oldest sample in the window to `sent` now;
    /// `None` until a second has passed since the first sample.
    pub fn rate(&self, flow: &str, sent: u64) -> Option<f64> {
        let state = self.inner.lock().ok()?;
        let &(since, base) = state.sent.get(flow)?.front()?;
        let elapsed = since.elapsed();
        (elapsed >= Duration::from_secs(1))
            .then(|| sent.saturating_sub(base) as f64 / elapsed.as_secs_f64())
    }

    /// How long the acknowledged offset of `file` (a tailer's file id) of `flow` has
    /// stayed where it is, as far as the samples tell.
    pub fn checkpoint_age(&self, flow: &str, file: u64) -> Option<Duration> {
        let state = self.inner.lock().ok()?;
        let &(_, since) = state.offsets.get(&(flow.to_owned(), file))?;
        Some(since.elapsed())
    }
}

/// `1523`, `12.5`, `0.25`: enough digits to read at a glance.
pub fn human_rate(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{rate:.0}")
    } else if rate >= 10.0 {
        format!("{rate:.1}")
    } else {
        format!("{rate:.2}")
    }
}

/// `0 B`, `512 B`, `12.3 KiB`, `1.2 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `4s`, `3m12s`, `2h05m`, `3d04h`.
pub fn human_age(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn flow(id: &str) -> FlowSnapshot {
        FlowSnapshot {
            id: id.to_owned(),
            ready: true,
            reason: "delivering".to_owned(),
            ..Default::default()
        }
    }

    fn snapshot(flows: Vec<FlowSnapshot>) -> StatusSnapshot {
        StatusSnapshot {
            ready: flows.iter().all(|f| f.ready),
            checkpoints: Some(CheckpointSnapshot {
                saved: true,
                ..Default::default()
            }),
            flows,
            ..Default::default()
        }
    }

    #[test]
    fn one_line_names_flows_rate_backlog_and_last_error() {
        let mut a = flow("fh:a:/var/log/a*");
        a.records_per_second = Some(1500.4);
        let mut b = flow("fh:b:/var/log/b*");
        b.records_per_second = Some(22.6);
        b.bytes_behind = 3 * 1024 * 1024;
        b.last_error = Some(ErrorSnapshot {
            message: "ThrottlingException (throttled)".into(),
            seconds_ago: 75.0,
        });
        a.last_error = Some(ErrorSnapshot {
            message: "older".into(),
            seconds_ago: 4000.0,
        });
        assert_eq!(
            snapshot(vec![a, b]).one_line(),
            "2 flows (2 ready), 1523 records/s, 3.0 MiB behind, last error: ThrottlingException (throttled) 1m15s ago (fh:b:/var/log/b*)"
        );
        let lone = snapshot(vec![flow("fh:c:/c")]);
        assert_eq!(
            lone.one_line(),
            "1 flow (1 ready), - records/s, 0 B behind, last error: none"
        );
        let line = lone.one_line();
        assert!(!line.contains('\n'));
    }

    #[test]
    fn health_is_critical_when_not_ready_and_warns_on_recent_errors_or_backlog() {
        assert_eq!(snapshot(vec![flow("a")]).health(1024).0, Health::Ok);

        let mut behind = flow("a");
        behind.bytes_behind = 2048;
        let (h, why) = snapshot(vec![behind]).health(1024);
        assert_eq!(h, Health::Warning);
        assert_eq!(why, ["a: 2.0 KiB behind"]);

        let mut recent = flow("a");
        recent.last_error = Some(ErrorSnapshot {
            message: "InternalFailure (3 records)".into(),
            seconds_ago: 12.0,
        });
        assert_eq!(
            snapshot(vec![recent.clone()]).health(u64::MAX).0,
            Health::Warning
        );
        recent.last_error.as_mut().unwrap().seconds_ago = 3600.0;
        assert_eq!(snapshot(vec![recent]).health(u64::MAX).0, Health::Ok);

        let mut stuck = flow("a");
        stuck.ready = false;
        stuck.reason = "permanent error: ResourceNotFoundException: gone".into();
        let (h, why) = snapshot(vec![stuck, flow("b")]).health(u64::MAX);
        assert_eq!(h, Health::Critical);
        assert_eq!(why, ["a: permanent error: ResourceNotFoundException: gone"]);

        let mut unsaved = snapshot(vec![flow("a")]);
        unsaved.ready = false;
        unsaved.checkpoints = Some(CheckpointSnapshot {
            saved: false,
            error: Some("No space left on device".into()),
            ..Default::default()
        });
        let (h, why) = unsaved.health(u64::MAX);
        assert_eq!(h, Health::Critical);
        assert_eq!(why, ["checkpoints not saved: No space left on device"]);
    }

    #[test]
    fn an_older_or_newer_answer_still_parses() {
        let parsed: StatusSnapshot =
            serde_json::from_str(r#"{"ready": true, "flows": [{"id": "x", "new_field": 1}]}"#)
                .unwrap();
        assert_eq!(parsed.flows[0].id, "x");
        assert_eq!(parsed.flows[0].records_per_second, None);
    }

    #[test]
    fn human_units_read_at_a_glance() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
        assert_eq!(human_age(0.4), "0s");
        assert_eq!(human_age(192.0), "3m12s");
        assert_eq!(human_age(7500.0), "2h05m");
        assert_eq!(human_age(3.0 * 86_400.0 + 4.0 * 3600.0), "3d04h");
        assert_eq!(human_rate(1523.4), "1523");
        assert_eq!(human_rate(12.46), "12.5");
        assert_eq!(human_rate(0.25), "0.25");
    }
}
