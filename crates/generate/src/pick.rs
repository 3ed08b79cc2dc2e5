//! Constant-time weighted choice (Vose's alias method) and the two continuous draws the model
//! needs (standard normal, Pareto). Written here rather than taken from `rand_distr` so the
//! exact sequence of draws, and therefore `--seed` output, cannot change under a dependency
//! upgrade.

use crate::rng::Rng;

/// Picks an index with probability proportional to its weight, in O(1) per draw.
#[derive(Debug, Clone)]
pub struct AliasTable {
    prob: Box<[f64]>,
    alias: Box<[u32]>,
}

impl AliasTable {
    /// Builds the table. Weights must be finite and non-negative with a positive sum; an empty
    /// or all-zero list degenerates to always picking index 0.
    pub fn new(weights: &[f64]) -> Self {
        let n = weights.len().max(1);
        let total: f64 = weights.iter().sum();
        if weights.is_empty() || total <= 0.0 || !total.is_finite() {
            let prob: Vec<f64> = (0..n).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect();
            return AliasTable {
                prob: prob.into(),
                alias: vec![0; n].into(),
            };
        }
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut prob = vec![1.0; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            prob[s] = scaled[s];
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        AliasTable {
            prob: prob.into(),
            alias: alias.into(),
        }
    }

    /// Weights `1 / rank^exponent` for ranks 1..=n: a Zipf-like popularity law.
    pub fn zipf(n: usize, exponent: f64) -> Self {
        let weights: Vec<f64> = (1..=n).map(|r| (r as f64).powf(-exponent)).collect();
        AliasTable::new(&weights)
    }

    /// Draws one index.
    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let i = rng.below(self.prob.len());
        if rng.unit() < self.prob[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }
}

/// A standard normal draw (Box–Muller; one of the pair is discarded, which is fine off the hot
/// path, where it is used: tables are pre-computed).
pub fn normal(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - rng.unit();
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal draw with the given median and shape `sigma`.
pub fn lognormal(rng: &mut Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

/// A Pareto draw with scale `min` and tail index `alpha`.
pub fn pareto(rng: &mut Rng, min: f64, alpha: f64) -> f64 {
    min / (1.0 - rng.unit()).powf(1.0 / alpha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_table_follows_weights() {
        let table = AliasTable::new(&[1.0, 0.0, 3.0, 6.0]);
        let mut rng = Rng::from_seed_u64(3);
        let mut counts = [0u32; 4];
        for _ in 0..100_000 {
            counts[table.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((9_000..11_000).contains(&counts[0]), "{counts:?}");
        assert!((28_000..32_000).contains(&counts[2]), "{counts:?}");
        assert!((58_000..62_000).contains(&counts[3]), "{counts:?}");
    }

    #[test]
    fn degenerate_tables_pick_zero() {
        let mut rng = Rng::from_seed_u64(3);
        assert_eq!(AliasTable::new(&[]).sample(&mut rng), 0);
        assert_eq!(AliasTable::new(&[0.0, 0.0]).sample(&mut rng), 0);
    }

    #[test]
    fn lognormal_median_is_close() {
        let mut rng = Rng::from_seed_u64(5);
        let mut xs: Vec<f64> = (0..20_001)
            .map(|_| lognormal(&mut rng, 100.0, 1.0))
            .collect();
        xs.sort_by(|a, b| a.total_cmp(b));
        let median = xs[10_000];
        assert!((90.0..110.0).contains(&median), "{median}");
    }
}
