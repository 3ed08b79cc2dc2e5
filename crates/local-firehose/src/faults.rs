//! The fault injector: turns a [`Faults`] plan and a seed into per-call and per-record decisions.
//!
//! Invariant: one seeded generator serves every decision, drawn in request arrival order, so a
//! single sequential client sees the same faults on every run with the same seed. Draws happen
//! only for requests that passed validation, so malformed requests do not shift the sequence.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};

use crate::options::{Faults, Latency};

/// The z-score of the 99th percentile of a standard normal distribution.
const Z_P99: f64 = 2.326_347_874;

/// What happens to a whole data call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallFault {
    /// Served normally (per-record failures may still apply).
    None,
    /// 503 ServiceUnavailableException, nothing delivered.
    Throttle,
    /// 500 InternalFailure, nothing delivered.
    Error,
    /// Connection closed without an answer after delivering the records.
    ResetDelivered,
    /// Connection closed without an answer, nothing delivered.
    ResetDropped,
}

/// Why one record of a PutRecordBatch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordFault {
    /// Per-record throttling ("Slow down.").
    ServiceUnavailable,
    /// Per-record internal error.
    InternalFailure,
}

impl RecordFault {
    pub(crate) fn error_code(self) -> &'static str {
        match self {
            RecordFault::ServiceUnavailable => "ServiceUnavailableException",
            RecordFault::InternalFailure => "InternalFailure",
        }
    }

    pub(crate) fn error_message(self) -> &'static str {
        match self {
            RecordFault::ServiceUnavailable => "Slow down.",
            RecordFault::InternalFailure => "Internal service failure.",
        }
    }
}

/// Shared, runtime-changeable fault state.
pub(crate) struct FaultInjector {
    plan: RwLock<Arc<Faults>>,
    rng: Mutex<StdRng>,
    started: Instant,
}

impl FaultInjector {
    pub(crate) fn new(plan: Faults, seed: u64) -> Self {
        FaultInjector {
            plan: RwLock::new(Arc::new(plan)),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            started: Instant::now(),
        }
    }

    pub(crate) fn plan(&self) -> Arc<Faults> {
        match self.plan.read() {
            Ok(plan) => Arc::clone(&plan),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub(crate) fn set_plan(&self, plan: Faults) {
        let mut slot = match self.plan.write() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(plan);
    }

    fn rng(&self) -> MutexGuard<'_, StdRng> {
        // A panic while holding the generator cannot leave it in a bad state.
        self.rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether an outage window covers now.
    pub(crate) fn in_outage(&self) -> bool {
        let since_start = self.started.elapsed();
        self.plan().outages.iter().any(|o| o.covers(since_start))
    }

    /// How long to hold this answer back.
    pub(crate) fn latency(&self) -> Duration {
        let plan = self.plan();
        match plan.latency {
            Latency::None => Duration::ZERO,
            Latency::Fixed(d) => d,
            Latency::Uniform(lo, hi) => {
                let secs = self.rng().gen_range(lo.as_secs_f64()..=hi.as_secs_f64());
                Duration::from_secs_f64(secs)
            }
            Latency::LogNormal { median, p99 } => {
                let mu = median.as_secs_f64().ln();
                let sigma = (p99.as_secs_f64().ln() - mu) / Z_P99;
                match LogNormal::new(mu, sigma) {
                    Ok(dist) => Duration::try_from_secs_f64(dist.sample(&mut *self.rng()))
                        .unwrap_or(Duration::ZERO),
                    Err(_) => median,
                }
            }
        }
    }

    /// Decides the fate of a whole valid data call.
    pub(crate) fn call_fault(&self) -> CallFault {
        let plan = self.plan();
        let whole_call = plan.throttle_rate + plan.error_rate + plan.reset_rate;
        if whole_call <= 0.0 {
            return CallFault::None;
        }
        let mut rng = self.rng();
        let draw: f64 = rng.gen();
        if draw < plan.throttle_rate {
            CallFault::Throttle
        } else if draw < plan.throttle_rate + plan.error_rate {
            CallFault::Error
        } else if draw < whole_call {
            if rng.gen_bool(0.5) {
                CallFault::ResetDelivered
            } else {
                CallFault::ResetDropped
            }
        } else {
            CallFault::None
        }
    }

    /// Decides, for each of `count` records, whether it fails; fills `out` (cleared first).
    pub(crate) fn record_faults(&self, count: usize, out: &mut Vec<Option<RecordFault>>) {
        out.clear();
        let rate = self.plan().partial_failure_rate;
        if rate <= 0.0 {
            out.resize(count, None);
            return;
        }
        let mut rng = self.rng();
        out.extend((0..count).map(|_| {
            if !rng.gen_bool(rate) {
                None
            } else if rng.gen_bool(0.5) {
                Some(RecordFault::ServiceUnavailable)
            } else {
                Some(RecordFault::InternalFailure)
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Outage;

    #[test]
    fn same_seed_same_decisions() {
        let plan = Faults {
            throttle_rate: 0.2,
            error_rate: 0.2,
            reset_rate: 0.2,
            partial_failure_rate: 0.3,
            ..Faults::default()
        };
        let draw = |seed| {
            let f = FaultInjector::new(plan.clone(), seed);
            let calls: Vec<_> = (0..50).map(|_| f.call_fault()).collect();
            let mut records = Vec::new();
            f.record_faults(100, &mut records);
            (calls, records)
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn rates_of_zero_and_one_are_exact() {
        let never = FaultInjector::new(Faults::default(), 1);
        assert!((0..100).all(|_| never.call_fault() == CallFault::None));
        let always = FaultInjector::new(
            Faults {
                error_rate: 1.0,
                partial_failure_rate: 1.0,
                ..Faults::default()
            },
            1,
        );
        assert!((0..100).all(|_| always.call_fault() == CallFault::Error));
        let mut out = Vec::new();
        always.record_faults(10, &mut out);
        assert!(out.iter().all(Option::is_some));
    }

    #[test]
    fn latency_samples_stay_in_range() {
        let f = FaultInjector::new(
            Faults {
                latency: Latency::Uniform(Duration::from_millis(10), Duration::from_millis(20)),
                ..Faults::default()
            },
            3,
        );
        for _ in 0..100 {
            let d = f.latency();
            assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(20));
        }
        f.set_plan(Faults {
            latency: Latency::LogNormal {
                median: Duration::from_millis(50),
                p99: Duration::from_millis(500),
            },
            ..Faults::default()
        });
        let mut samples: Vec<_> = (0..2001).map(|_| f.latency()).collect();
        samples.sort();
        let median = samples[1000];
        assert!(median > Duration::from_millis(35) && median < Duration::from_millis(70));
    }

    #[test]
    fn outage_follows_the_plan() {
        let f = FaultInjector::new(Faults::default(), 0);
        assert!(!f.in_outage());
        f.set_plan(Faults {
            outages: vec![Outage::indefinite()],
            ..Faults::default()
        });
        assert!(f.in_outage());
    }
}
