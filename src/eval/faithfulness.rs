//! Faithfulness by removal: how the model's output changes when the units an attribution ranks
//! highest are taken away or kept alone (docs/evaluation.md has the protocols).
//!
//! - ERASER (DeYoung et al. 2020): comprehensiveness = p_ŷ(x) − p_ŷ(x ∖ r_t), sufficiency =
//!   p_ŷ(x) − p_ŷ(r_t), r_t = the top ⌈t·n⌉ units for t ∈ {1, 5, 10, 20, 50} %; AOPC = the mean
//!   over the thresholds (no t = 0 term). Log-odds at 20 %: log p_ŷ(x ∖ r_20) − log p_ŷ(x).
//! - Deletion / insertion (Petsiuk et al. 2018, RISE): p_ŷ after removing (keeping) the top
//!   ⌈f·n⌉ units, f = 0, 0.1, …, 1; area by the trapezoid rule over f.
//! - Perturbation test ("Beyond Intuition", Chen et al. 2023): the map clamped at 0; the top
//!   ⌊f·n⌋ tokens removed (positive: most relevant first; negative: least relevant first);
//!   accuracy against the gold label at each f; area by the trapezoid rule.
//!
//! Units are ranked by score, highest first, ties by position. The functions here only build
//! keep-masks and read probabilities; [`super::removal`] turns masks into model inputs.

use crate::error::Result;

/// ERASER's thresholds.
pub const THRESHOLDS: [f64; 5] = [0.01, 0.05, 0.10, 0.20, 0.50];
/// Fractions of the deletion, insertion and perturbation curves: 0, 0.1, …, 1.
pub const FRACTIONS: [f64; 11] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// Class probabilities of the model for inputs that keep only the marked positions.
pub trait Predictor {
    /// Number of positions of the input.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Positions that are never removed (special tokens).
    fn fixed(&self) -> &[bool];
    /// One probability vector per keep-mask (each of length [`Predictor::len`]).
    fn probs(&self, keeps: &[Vec<bool>]) -> Result<Vec<Vec<f64>>>;
}

/// Unit indices ordered by score, highest first; ties keep the lower index first.
pub fn rank(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    idx
}

/// t·n rounded to 1e-9, so that 0.1·30 = 3.0000000000000004 counts as 3 under ⌈⌉ and ⌊⌋.
fn share(t: f64, n: usize) -> f64 {
    ((t * n as f64) * 1e9).round() / 1e9
}

/// ⌈t·n⌉, at least 1 when n > 0 (ERASER thresholds), at most n.
pub fn count_at(t: f64, n: usize) -> usize {
    share(t, n).ceil().max(1.0).min(n as f64) as usize
}

/// The keep-mask that drops (or, with `keep_only`, keeps alone) the first `k` ranked units.
fn mask(
    p: &dyn Predictor,
    units: &[Vec<usize>],
    ranked: &[usize],
    k: usize,
    keep_only: bool,
) -> Vec<bool> {
    let fixed = p.fixed();
    let mut keep = vec![!keep_only; p.len()];
    for &u in &ranked[..k.min(ranked.len())] {
        for &pos in &units[u] {
            keep[pos] = keep_only;
        }
    }
    for (k, &f) in keep.iter_mut().zip(fixed) {
        *k |= f;
    }
    keep
}

/// Area under a curve sampled at `xs` (trapezoid rule).
pub fn trapezoid(xs: &[f64], ys: &[f64]) -> f64 {
    xs.windows(2)
        .zip(ys.windows(2))
        .map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) / 2.0)
        .sum()
}

/// ERASER's removal scores of one input.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Eraser {
    /// p(x ∖ r_t) and p(r_t) per threshold (full probability vectors, for ERASER's JSONL).
    pub without: Vec<Vec<f64>>,
    pub only: Vec<Vec<f64>>,
    pub comprehensiveness: Vec<f64>,
    pub sufficiency: Vec<f64>,
    pub log_odds_20: f64,
}

impl Eraser {
    pub fn comprehensiveness_aopc(&self) -> f64 {
        super::stats::mean(&self.comprehensiveness)
    }
    pub fn sufficiency_aopc(&self) -> f64 {
        super::stats::mean(&self.sufficiency)
    }
}

/// Comprehensiveness, sufficiency and log-odds of `unit_scores` for class `class`, whose
/// probability at the full input is `p_full`.
pub fn eraser(
    p: &dyn Predictor,
    units: &[Vec<usize>],
    unit_scores: &[f64],
    class: usize,
    p_full: f64,
) -> Result<Eraser> {
    let ranked = rank(unit_scores);
    let n = units.len();
    let mut keeps = Vec::new();
    for t in THRESHOLDS {
        keeps.push(mask(p, units, &ranked, count_at(t, n), false));
    }
    for t in THRESHOLDS {
        keeps.push(mask(p, units, &ranked, count_at(t, n), true));
    }
    let probs = p.probs(&keeps)?;
    let (without, only) = probs.split_at(THRESHOLDS.len());
    let at = |v: &[Vec<f64>]| v.iter().map(|q| p_full - q[class]).collect::<Vec<_>>();
    let twenty = THRESHOLDS.iter().position(|&t| t == 0.20).unwrap_or(3);
    let log = |x: f64| x.max(1e-12).ln();
    Ok(Eraser {
        comprehensiveness: at(without),
        sufficiency: at(only),
        log_odds_20: log(without[twenty][class]) - log(p_full),
        without: without.to_vec(),
        only: only.to_vec(),
    })
}

/// A curve sampled at [`FRACTIONS`] with its area.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Curve {
    pub values: Vec<f64>,
    pub auc: f64,
}

impl Curve {
    fn new(values: Vec<f64>) -> Self {
        Self {
            auc: trapezoid(&FRACTIONS, &values),
            values,
        }
    }
}

/// Deletion (remove the top ⌈f·n⌉ units) and insertion (keep only them) curves of p_class.
pub fn deletion_insertion(
    p: &dyn Predictor,
    units: &[Vec<usize>],
    unit_scores: &[f64],
    class: usize,
) -> Result<(Curve, Curve)> {
    let ranked = rank(unit_scores);
    let n = units.len();
    let count = |f: f64| if f == 0.0 { 0 } else { count_at(f, n) };
    let mut keeps: Vec<Vec<bool>> = FRACTIONS
        .iter()
        .map(|&f| mask(p, units, &ranked, count(f), false))
        .collect();
    keeps.extend(
        FRACTIONS
            .iter()
            .map(|&f| mask(p, units, &ranked, count(f), true)),
    );
    let probs = p.probs(&keeps)?;
    let (del, ins) = probs.split_at(FRACTIONS.len());
    let read = |v: &[Vec<f64>]| v.iter().map(|q| q[class]).collect::<Vec<_>>();
    Ok((Curve::new(read(del)), Curve::new(read(ins))))
}

/// The positive and negative perturbation curves (accuracy against `gold`) of a token map.
/// `token_scores` covers every position; fixed positions are never removed and do not count in
/// n.
pub fn perturbation(
    p: &dyn Predictor,
    token_scores: &[f64],
    gold: usize,
) -> Result<(Curve, Curve)> {
    let fixed = p.fixed().to_vec();
    let free: Vec<usize> = (0..p.len()).filter(|&i| !fixed[i]).collect();
    let units: Vec<Vec<usize>> = free.iter().map(|&i| vec![i]).collect();
    let clamped: Vec<f64> = free.iter().map(|&i| token_scores[i].max(0.0)).collect();
    let negated: Vec<f64> = clamped.iter().map(|v| -v).collect();
    let n = free.len();
    let floor = |f: f64| share(f, n).floor() as usize;
    let mut keeps = Vec::new();
    for scores in [&clamped, &negated] {
        let ranked = rank(scores);
        keeps.extend(
            FRACTIONS
                .iter()
                .map(|&f| mask(p, &units, &ranked, floor(f), false)),
        );
    }
    let probs = p.probs(&keeps)?;
    let correct: Vec<f64> = probs
        .iter()
        .map(|q| f64::from(u8::from(crate::explain::argmax(q) == gold)))
        .collect();
    let (pos, neg) = correct.split_at(FRACTIONS.len());
    Ok((Curve::new(pos.to_vec()), Curve::new(neg.to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "model" whose class-1 probability is the kept share of a fixed weight per position;
    /// position 0 is a special token.
    struct Toy {
        weights: Vec<f64>,
        fixed: Vec<bool>,
        calls: std::cell::Cell<usize>,
    }

    impl Predictor for Toy {
        fn len(&self) -> usize {
            self.weights.len()
        }
        fn fixed(&self) -> &[bool] {
            &self.fixed
        }
        fn probs(&self, keeps: &[Vec<bool>]) -> Result<Vec<Vec<f64>>> {
            self.calls.set(self.calls.get() + 1);
            let total: f64 = self.weights.iter().sum();
            Ok(keeps
                .iter()
                .map(|k| {
                    assert!(k[0], "the special token is never removed");
                    let p1 = self
                        .weights
                        .iter()
                        .zip(k)
                        .filter(|(_, &k)| k)
                        .map(|(w, _)| w)
                        .sum::<f64>()
                        / total;
                    vec![1.0 - p1, p1]
                })
                .collect())
        }
    }

    fn toy() -> Toy {
        // Position 0 special (weight 0); positions 1..=10 weights 10, 9, …, 1 (total 55).
        let mut weights = vec![0.0];
        weights.extend((1..=10).rev().map(f64::from));
        let mut fixed = vec![false; 11];
        fixed[0] = true;
        Toy {
            weights,
            fixed,
            calls: Default::default(),
        }
    }

    #[test]
    fn counts_and_ranks() {
        assert_eq!(count_at(0.01, 10), 1);
        assert_eq!(count_at(0.2, 10), 2);
        assert_eq!(count_at(0.1, 30), 3);
        assert_eq!(count_at(0.5, 3), 2);
        assert_eq!(count_at(1.0, 7), 7);
        assert_eq!(rank(&[0.5, 2.0, 0.5, -1.0]), vec![1, 0, 2, 3]);
        assert!((trapezoid(&[0.0, 0.5, 1.0], &[1.0, 0.5, 0.0]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn eraser_scores_by_hand() {
        let t = toy();
        // Units = positions 1..=10; the perfect attribution ranks them by weight.
        let units: Vec<Vec<usize>> = (1..=10).map(|i| vec![i]).collect();
        let scores: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let e = eraser(&t, &units, &scores, 1, 1.0).unwrap();
        // k = 1, 1, 1, 2, 5 → removed weight 10, 10, 10, 19, 40 of 55.
        let want = [10.0, 10.0, 10.0, 19.0, 40.0].map(|w| w / 55.0);
        for (got, w) in e.comprehensiveness.iter().zip(want) {
            assert!((got - w).abs() < 1e-12);
        }
        // Sufficiency = 1 − kept share = 1 − want.
        for (got, w) in e.sufficiency.iter().zip(want) {
            assert!((got - (1.0 - w)).abs() < 1e-12);
        }
        assert!((e.comprehensiveness_aopc() - 89.0 / 275.0).abs() < 1e-12);
        assert!((e.log_odds_20 - (36.0f64 / 55.0).ln()).abs() < 1e-12);
        assert_eq!(t.calls.get(), 1, "one batched model call per input");
        // The reversed ranking removes the lightest units: smaller comprehensiveness.
        let rev: Vec<f64> = scores.iter().map(|s| -s).collect();
        let worse = eraser(&t, &units, &rev, 1, 1.0).unwrap();
        assert!(worse.comprehensiveness_aopc() < e.comprehensiveness_aopc());
    }

    #[test]
    fn multi_position_units_move_together() {
        let t = toy();
        // Unit 0 = positions 1 and 2 (weights 10 + 9), unit 1 = position 3 ...
        let mut units = vec![vec![1, 2]];
        units.extend((3..=10).map(|i| vec![i]));
        let scores: Vec<f64> = (0..9).map(|i| 10.0 - i as f64).collect();
        let e = eraser(&t, &units, &scores, 1, 1.0).unwrap();
        assert!((e.comprehensiveness[0] - 19.0 / 55.0).abs() < 1e-12);
    }

    #[test]
    fn deletion_and_insertion_curves() {
        let t = toy();
        let units: Vec<Vec<usize>> = (1..=10).map(|i| vec![i]).collect();
        let scores: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let (del, ins) = deletion_insertion(&t, &units, &scores, 1).unwrap();
        // After removing the top j of 10: remaining weight = (10 − j)(11 − j)/2.
        for (j, v) in del.values.iter().enumerate() {
            let rest = ((10 - j) * (11 - j)) as f64 / 2.0 / 55.0;
            assert!((v - rest).abs() < 1e-12, "{j}: {v} vs {rest}");
        }
        assert!((del.values[0] - 1.0).abs() < 1e-12 && del.values[10].abs() < 1e-12);
        for (d, i) in del.values.iter().zip(&ins.values) {
            assert!((d + i - 1.0).abs() < 1e-12 || (*d == 1.0 && *i == 0.0));
        }
        assert!(del.auc < 0.5 && ins.auc > 0.5);
    }

    #[test]
    fn perturbation_accuracy_curves() {
        let t = toy();
        // Predicted class 1 while p1 > 0.5. Positive test with the perfect map: after removing
        // the top 1 (weight 10) p1 = 45/55 > .5; top 2: 36/55; top 3: 28/55 > .5; top 4:
        // 21/55 < .5. So accuracy 1,1,1,1,0,… at f = 0, .1, .2, .3, .4, …
        let mut scores = vec![100.0]; // the special token's score must not matter
        scores.extend((1..=10).rev().map(f64::from));
        let (pos, neg) = perturbation(&t, &scores, 1).unwrap();
        assert_eq!(pos.values[..5], [1.0, 1.0, 1.0, 1.0, 0.0]);
        assert!(pos.values[5..].iter().all(|&v| v == 0.0));
        // Negative: lightest first; removing the 5 lightest (15 of 55) keeps p1 = 40/55.
        // Removing 7 lightest (28): 27/55 < .5.
        assert_eq!(neg.values[..7], [1.0; 7]);
        assert_eq!(neg.values[7], 0.0);
        assert!((pos.auc - 0.35).abs() < 1e-12, "{}", pos.auc);
        assert!(neg.auc > pos.auc);
    }
}
