//! When each line is due. The rate profile is `rate(t) = base × diurnal(t) × incident(t)`, and
//! line `k` (0-based) is due at the time `t_k` where the expected line count `Λ(t) = ∫₀ᵗ rate`
//! reaches `k`. Due times are computed from `k` and absolute segment boundaries, never by
//! adding up intervals, so a run that lasts hours does not drift: with a constant rate,
//! `t_k = k / base` exactly.
//!
//! - `diurnal(t) = 1 + a·sin(2πt/P)` with `a = (R−1)/(R+1)`, so the peak-to-trough ratio is `R`
//!   and the mean over a period is 1 (`--rate` stays the mean rate). The run starts at the mean,
//!   rising towards the peak at `P/4`.
//! - `incident(t)` is `m` inside `[jE, jE+D)` for `j ≥ 1` (every `E`, lasting `D`), 1 elsewhere.
//!
//! Within one segment (incident or not), `Λ` is `Λ(seg_start) + base·m·(F(t) − F(seg_start))`
//! with `F(t) = t + a·P/(2π)·(1 − cos(2πt/P))`, which is strictly increasing, so the due time is
//! found by safeguarded Newton steps (closed form when `a = 0`).

use std::f64::consts::TAU;
use std::time::Duration;

/// The incident cycle: every `every`, for `duration`, the rate is multiplied by `rate_factor`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Incidents {
    /// Time between incident starts (the first starts at `every`).
    pub every: Duration,
    /// How long each incident lasts (`< every`).
    pub duration: Duration,
    /// Rate multiplier during an incident.
    pub rate_factor: f64,
}

impl Incidents {
    /// Whether `t` seconds after the start falls inside an incident.
    pub fn active_at(&self, t: f64) -> bool {
        let every = self.every.as_secs_f64();
        if t < every {
            return false;
        }
        t.rem_euclid(every) < self.duration.as_secs_f64()
    }
}

/// The daily (or any-period) swell of traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diurnal {
    /// Peak rate divided by trough rate (≥ 1).
    pub peak_ratio: f64,
    /// Length of one cycle.
    pub period: Duration,
}

/// The shape of the rate over time, without its base value.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RateProfile {
    /// Optional diurnal cycle.
    pub diurnal: Option<Diurnal>,
    /// Optional incident cycle.
    pub incidents: Option<Incidents>,
}

impl RateProfile {
    /// Whether `t` seconds after the start is inside an incident.
    pub fn incident_at(&self, t: f64) -> bool {
        self.incidents.is_some_and(|i| i.active_at(t))
    }
}

/// Computes due times for successive lines. Queries must use non-decreasing `k`.
#[derive(Debug, Clone)]
pub struct Schedule {
    base: f64,
    amplitude: f64,
    period: f64,
    incidents: Option<Incidents>,
    segment: Segment,
    /// The last solution, a good starting point for the next Newton solve.
    last_t: f64,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    index: u64,
    start: f64,
    end: f64,
    multiplier: f64,
    /// Λ at `start`.
    count_at_start: f64,
}

impl Schedule {
    /// A schedule with mean rate `base` lines per second (must be > 0) and the given shape.
    pub fn new(base: f64, profile: RateProfile) -> Self {
        let (amplitude, period) = match profile.diurnal {
            Some(d) if d.peak_ratio > 1.0 => (
                (d.peak_ratio - 1.0) / (d.peak_ratio + 1.0),
                d.period.as_secs_f64(),
            ),
            _ => (0.0, 1.0),
        };
        let mut schedule = Schedule {
            base,
            amplitude,
            period,
            incidents: profile.incidents,
            segment: Segment {
                index: 0,
                start: 0.0,
                end: f64::INFINITY,
                multiplier: 1.0,
                count_at_start: 0.0,
            },
            last_t: 0.0,
        };
        schedule.segment = schedule.segment_bounds(0, 0.0);
        schedule
    }

    /// Seconds after the start at which line `k` is due.
    pub fn due(&mut self, k: u64) -> f64 {
        let target = k as f64;
        while self.segment.end.is_finite() && self.count_at(self.segment.end) <= target {
            let end = self.segment.end;
            let count = self.count_at(end);
            self.segment = self.segment_bounds(self.segment.index + 1, count);
        }
        let t = self.solve_in_segment(target);
        self.last_t = t;
        t
    }

    /// The instantaneous rate (lines/s) at `t`, for tests and the progress display.
    pub fn rate_at(&self, t: f64) -> f64 {
        let incident = match self.incidents {
            Some(i) if i.active_at(t) => i.rate_factor,
            _ => 1.0,
        };
        self.base * incident * (1.0 + self.amplitude * (TAU * t / self.period).sin())
    }

    fn segment_bounds(&self, index: u64, count_at_start: f64) -> Segment {
        let Some(inc) = self.incidents else {
            return Segment {
                index,
                start: 0.0,
                end: f64::INFINITY,
                multiplier: 1.0,
                count_at_start,
            };
        };
        let every = inc.every.as_secs_f64();
        let dur = inc.duration.as_secs_f64();
        let cycle = index.div_ceil(2) as f64;
        let (start, end, multiplier) = if index == 0 {
            (0.0, every, 1.0)
        } else if index % 2 == 1 {
            (cycle * every, cycle * every + dur, inc.rate_factor)
        } else {
            (cycle * every + dur, (cycle + 1.0) * every, 1.0)
        };
        Segment {
            index,
            start,
            end,
            multiplier,
            count_at_start,
        }
    }

    /// `F(t)`: the integral of the diurnal factor from 0 to `t`.
    fn diurnal_integral(&self, t: f64) -> f64 {
        if self.amplitude == 0.0 {
            return t;
        }
        t + self.amplitude * self.period / TAU * (1.0 - (TAU * t / self.period).cos())
    }

    /// Λ(t) for `t` inside (or at the end of) the current segment.
    fn count_at(&self, t: f64) -> f64 {
        let s = &self.segment;
        s.count_at_start
            + self.base * s.multiplier * (self.diurnal_integral(t) - self.diurnal_integral(s.start))
    }

    fn solve_in_segment(&self, target: f64) -> f64 {
        let s = self.segment;
        let scale = self.base * s.multiplier;
        if self.amplitude == 0.0 {
            return s.start + (target - s.count_at_start) / scale;
        }
        let (mut lo, mut hi) = (s.start, s.end);
        if !hi.is_finite() {
            // Λ grows at least at (1−a)·scale, which bounds the solution.
            hi = s.start + (target - s.count_at_start) / (scale * (1.0 - self.amplitude)) + 1.0;
        }
        let mut t = self.last_t.clamp(lo, hi);
        for _ in 0..60 {
            let err = self.count_at(t) - target;
            if err.abs() < 1e-9 {
                break;
            }
            if err > 0.0 {
                hi = t;
            } else {
                lo = t;
            }
            let slope = scale * (1.0 + self.amplitude * (TAU * t / self.period).sin());
            let newton = t - err / slope;
            t = if newton > lo && newton < hi {
                newton
            } else {
                (lo + hi) / 2.0
            };
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_rate_due_times_are_exact_multiples() {
        let mut s = Schedule::new(1000.0, RateProfile::default());
        assert_eq!(s.due(0), 0.0);
        assert_eq!(s.due(1), 0.001);
        assert_eq!(s.due(1000), 1.0);
        // No drift after many hours: line k is due at exactly k / rate.
        let k = 200_000u64 * 3600 * 10;
        assert_eq!(s.due(k), k as f64 / 1000.0);
    }

    #[test]
    fn constant_rate_counts_per_window_are_exact() {
        for rate in [1.0, 7.0, 1000.0, 123_457.0, 200_000.0] {
            let mut s = Schedule::new(rate, RateProfile::default());
            let mut per_second = vec![0u64; 5];
            let mut k = 0;
            loop {
                let t = s.due(k);
                if t >= 5.0 {
                    break;
                }
                per_second[t as usize] += 1;
                k += 1;
            }
            for n in per_second {
                assert!(
                    (n as f64 - rate).abs() <= 1.0,
                    "rate {rate}: window had {n}"
                );
            }
        }
    }

    fn diurnal(peak_ratio: f64, period_secs: u64) -> RateProfile {
        RateProfile {
            diurnal: Some(Diurnal {
                peak_ratio,
                period: Duration::from_secs(period_secs),
            }),
            incidents: None,
        }
    }

    #[test]
    fn diurnal_keeps_the_mean_and_shapes_peak_and_trough() {
        let mut s = Schedule::new(100.0, diurnal(4.0, 100));
        // Over one full period the mean rate is the base rate.
        assert!((s.due(10_000) - 100.0).abs() < 1e-6);
        let mut s = Schedule::new(100.0, diurnal(4.0, 100));
        let count_between = |s: &mut Schedule, a: f64, b: f64| {
            let mut k = 0;
            let mut n = 0;
            loop {
                let t = s.due(k);
                if t >= b {
                    return n;
                }
                if t >= a {
                    n += 1;
                }
                k += 1;
            }
        };
        let peak = count_between(&mut s, 24.0, 26.0);
        let mut s = Schedule::new(100.0, diurnal(4.0, 100));
        let trough = count_between(&mut s, 74.0, 76.0);
        let ratio = peak as f64 / trough as f64;
        assert!((3.6..=4.4).contains(&ratio), "peak {peak} trough {trough}");
    }

    #[test]
    fn due_times_are_monotonic_across_incident_segments() {
        let profile = RateProfile {
            diurnal: Some(Diurnal {
                peak_ratio: 3.0,
                period: Duration::from_secs(50),
            }),
            incidents: Some(Incidents {
                every: Duration::from_secs(10),
                duration: Duration::from_secs(2),
                rate_factor: 3.0,
            }),
        };
        let mut s = Schedule::new(50.0, profile);
        let mut prev = -1.0;
        for k in 0..20_000 {
            let t = s.due(k);
            assert!(t > prev, "k {k}: {t} <= {prev}");
            prev = t;
        }
    }

    #[test]
    fn incidents_multiply_the_rate() {
        let profile = RateProfile {
            diurnal: None,
            incidents: Some(Incidents {
                every: Duration::from_secs(10),
                duration: Duration::from_secs(2),
                rate_factor: 3.0,
            }),
        };
        let mut s = Schedule::new(100.0, profile);
        let mut in_incident = 0;
        let mut k = 0;
        loop {
            let t = s.due(k);
            if t >= 20.0 {
                break;
            }
            if (10.0..12.0).contains(&t) {
                in_incident += 1;
            }
            k += 1;
        }
        // 18 normal seconds at 100/s + 2 incident seconds at 300/s.
        assert!((k as i64 - 2400).abs() <= 1, "total {k}");
        assert!(
            (in_incident as i64 - 600).abs() <= 1,
            "incident {in_incident}"
        );
        assert!(profile.incident_at(10.5));
        assert!(!profile.incident_at(12.5));
        assert!(!profile.incident_at(0.5));
    }
}
