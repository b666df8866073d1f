//! Paired statistics for comparing methods on the same examples (docs/evaluation.md):
//! percentile bootstrap 95 % intervals of a mean and of a paired difference, a paired
//! sign-flip permutation test, and Holm's step-down correction across methods.
//!
//! Every resampling is driven by a seeded ChaCha8 generator, so a table is reproducible from
//! its recorded seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Bootstrap resamples per interval.
pub const BOOTSTRAP: usize = 2000;
/// Sign-flip permutations per test.
pub const PERMUTATIONS: usize = 10000;

/// A mean with its 95 % percentile-bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Interval {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

/// The `q` quantile (0..=1) of sorted values, by linear interpolation (NumPy's default).
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Mean of `v` and the 2.5 / 97.5 % quantiles of the means of `BOOTSTRAP` resamples (with
/// replacement, same size).
pub fn bootstrap_mean(v: &[f64], seed: u64) -> Interval {
    let m = mean(v);
    if v.len() < 2 {
        return Interval {
            mean: m,
            low: m,
            high: m,
        };
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = v.len();
    let mut means: Vec<f64> = (0..BOOTSTRAP)
        .map(|_| (0..n).map(|_| v[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    Interval {
        mean: m,
        low: quantile(&means, 0.025),
        high: quantile(&means, 0.975),
    }
}

/// Paired differences a − b (same examples, same order).
pub fn differences(a: &[f64], b: &[f64]) -> Vec<f64> {
    assert_eq!(a.len(), b.len(), "paired samples must have equal length");
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

/// Two-sided paired sign-flip permutation test of mean(d) = 0: the share of random sign
/// assignments whose |mean| reaches the observed one, (count + 1) / (PERMUTATIONS + 1).
pub fn permutation_p(d: &[f64], seed: u64) -> f64 {
    let n = d.len();
    if n == 0 {
        return 1.0;
    }
    let observed = d.iter().sum::<f64>().abs();
    // Exact zero differences contribute nothing; a tolerance keeps float noise from counting.
    let tol = 1e-12 * (1.0 + observed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut reach = 0usize;
    for _ in 0..PERMUTATIONS {
        let s: f64 = d
            .iter()
            .map(|x| if rng.random::<bool>() { *x } else { -*x })
            .sum();
        if s.abs() >= observed - tol {
            reach += 1;
        }
    }
    (reach + 1) as f64 / (PERMUTATIONS + 1) as f64
}

/// Holm's step-down adjustment: the i-th smallest p times (m − i), made monotone, capped at 1.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_like_numpy() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&s, 0.0), 1.0);
        assert_eq!(quantile(&s, 1.0), 4.0);
        assert!((quantile(&s, 0.5) - 2.5).abs() < 1e-12);
        assert!((quantile(&s, 0.25) - 1.75).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_brackets_the_mean_and_is_seeded() {
        let v: Vec<f64> = (0..50).map(|i| (i % 7) as f64).collect();
        let a = bootstrap_mean(&v, 3);
        assert!(a.low < a.mean && a.mean < a.high, "{a:?}");
        assert_eq!(a, bootstrap_mean(&v, 3));
        // A constant sample has a degenerate interval.
        let c = bootstrap_mean(&[2.0; 10], 1);
        assert_eq!((c.low, c.mean, c.high), (2.0, 2.0, 2.0));
        // Normal approximation: the half-width is near 1.96 σ/√n.
        let sd = (v.iter().map(|x| (x - a.mean).powi(2)).sum::<f64>() / 49.0).sqrt();
        let half = 1.96 * sd / (50f64).sqrt();
        assert!(
            ((a.high - a.low) / 2.0 - half).abs() < 0.25 * half,
            "{a:?} {half}"
        );
    }

    #[test]
    fn permutation_test_separates_shift_from_noise() {
        // All ten differences positive: the exact two-sided p is 2/1024.
        let d = [1.0, 2.0, 0.5, 1.5, 1.0, 0.7, 0.9, 1.1, 2.0, 0.3];
        let p = permutation_p(&d, 7);
        assert!((p - 2.0 / 1024.0).abs() < 0.0015, "{p}");
        // Symmetric differences: no evidence.
        let z = [1.0, -1.0, 2.0, -2.0, 0.5, -0.5];
        assert!(permutation_p(&z, 7) > 0.9);
        assert_eq!(permutation_p(&[0.0; 5], 1), 1.0);
    }

    #[test]
    fn holm_matches_hand_computation() {
        // Sorted p: 0.01 (×3 = 0.03), 0.02 (×2 = 0.04), 0.04 (×1 = 0.04).
        let adj = holm(&[0.04, 0.01, 0.02]);
        assert!((adj[1] - 0.03).abs() < 1e-12);
        assert!((adj[2] - 0.04).abs() < 1e-12);
        assert!((adj[0] - 0.04).abs() < 1e-12);
        // Monotone and capped.
        let adj = holm(&[0.5, 0.001, 0.6]);
        assert_eq!(adj, vec![1.0, 0.003, 1.0]);
    }
}
