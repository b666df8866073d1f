//! M⁴ (Li et al., NeurIPS 2023 Datasets & Benchmarks; holyseven/M4_XAI_Benchmark) MoRF, LeRF
//! and ABPC, as InterpretDL's evaluators compute them (docs/evaluation.md cites the files):
//!
//! - a curve is p_ŷ, the probability of the class predicted at the full input, at the full
//!   input and after each of K removal steps; MoRF / LeRF = the **mean** of its K + 1 points
//!   (lower MoRF, higher LeRF = better); ABPC = LeRF − MoRF (higher = better).
//! - text (`PerturbationNLP`, `percentile=1` as M⁴'s run_eval.sh sets it): K = 100; the
//!   thresholds are the percentiles 0..=100 (numpy's linear rule) of the scores of the tokens
//!   between the first and the last; MoRF step j removes every token with score ≥ the
//!   (100 − j)-th percentile, LeRF step j every token with score ≤ the j-th (ties go together;
//!   the last step of each removes every token). Special tokens are never removed.
//! - images (`Perturbation`, its default of 20 samples): K = 20, thresholds the percentiles
//!   95, 90, …, 0 of the map; MoRF step j removes units with score **>** the (100 − 5j)-th
//!   percentile, LeRF step j units with score **<** the 5(j − 1)-th (so LeRF's first step
//!   removes nothing and its last about 95 %). calig's units are the patches.

use super::faithfulness::Predictor;
use crate::error::Result;

/// Removal steps of a text curve (percentiles 0..=100).
pub const TEXT_STEPS: usize = 100;
/// Removal steps of an image curve (InterpretDL's default `limit_number_generated_samples`).
pub const IMAGE_STEPS: usize = 20;

/// numpy's `percentile(values, q)` with its default linear rule, floating point included
/// (virtual index n·q′ + (1 − q′) − 1 with q′ = q / 100; the lerp from the nearer end).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let qq = q / 100.0;
    // numpy writes 1 + q′·(−1): negation is exact, so 1 − q′ is the same float.
    let virtual_index = n as f64 * qq + (1.0 - qq) - 1.0;
    let below = virtual_index.floor().clamp(0.0, (n - 1) as f64);
    let above = (below + 1.0).min((n - 1) as f64);
    let t = virtual_index - below;
    let (a, b) = (sorted[below as usize], sorted[above as usize]);
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// The units each removal step takes away, one list per step.
pub type Steps = Vec<Vec<usize>>;

/// Which units each removal step takes away: `(morf, lerf)`, K steps each.
pub fn removal_sets(scores: &[f64], is_text: bool) -> (Steps, Steps) {
    let mut sorted = scores.to_vec();
    sorted.sort_by(f64::total_cmp);
    let pick = |keep: &dyn Fn(f64) -> bool| -> Vec<usize> {
        (0..scores.len()).filter(|&i| keep(scores[i])).collect()
    };
    if scores.is_empty() {
        let k = if is_text { TEXT_STEPS } else { IMAGE_STEPS };
        return (vec![Vec::new(); k], vec![Vec::new(); k]);
    }
    if is_text {
        let tiles: Vec<f64> = (0..=100).map(|q| percentile(&sorted, q as f64)).collect();
        let morf = (0..100).rev().map(|q| pick(&|s| s >= tiles[q])).collect();
        let lerf = (1..=100).map(|q| pick(&|s| s <= tiles[q])).collect();
        (morf, lerf)
    } else {
        let q = 100.0 / IMAGE_STEPS as f64;
        let tiles: Vec<f64> = (1..=IMAGE_STEPS)
            .rev()
            .map(|i| percentile(&sorted, q * (i - 1) as f64))
            .collect();
        let morf = tiles.iter().map(|&p| pick(&|s| s > p)).collect();
        let lerf = tiles.iter().rev().map(|&p| pick(&|s| s < p)).collect();
        (morf, lerf)
    }
}

/// One example's M⁴ curves and scores.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct M4 {
    /// p_ŷ at the full input, then after each MoRF (LeRF) step.
    pub morf_curve: Vec<f64>,
    pub lerf_curve: Vec<f64>,
    pub morf: f64,
    pub lerf: f64,
    pub abpc: f64,
}

impl M4 {
    /// The scores of two curves (each starting at the full input).
    pub fn from_curves(morf_curve: Vec<f64>, lerf_curve: Vec<f64>) -> Self {
        let morf = super::stats::mean(&morf_curve);
        let lerf = super::stats::mean(&lerf_curve);
        Self {
            morf_curve,
            lerf_curve,
            morf,
            lerf,
            abpc: lerf - morf,
        }
    }
}

/// The curves of `unit_scores` (one per unit, `units[u]` its positions) for class `class`,
/// with the removal sets (unit indices per step) for the export.
pub fn m4(
    p: &dyn Predictor,
    units: &[Vec<usize>],
    unit_scores: &[f64],
    class: usize,
    is_text: bool,
) -> Result<(M4, Steps, Steps)> {
    let (morf_sets, lerf_sets) = removal_sets(unit_scores, is_text);
    let fixed = p.fixed();
    let keep_of = |removed: &[usize]| {
        let mut keep = vec![true; p.len()];
        for &u in removed {
            for &pos in &units[u] {
                keep[pos] = fixed[pos];
            }
        }
        keep
    };
    let mut keeps = vec![vec![true; p.len()]];
    keeps.extend(morf_sets.iter().map(|r| keep_of(r)));
    keeps.extend(lerf_sets.iter().map(|r| keep_of(r)));
    let probs = p.probs(&keeps)?;
    let at = |v: &[Vec<f64>]| v.iter().map(|q| q[class]).collect::<Vec<f64>>();
    let k = morf_sets.len();
    let mut morf = at(&probs[..1]);
    morf.extend(at(&probs[1..=k]));
    let mut lerf = at(&probs[..1]);
    lerf.extend(at(&probs[k + 1..]));
    Ok((M4::from_curves(morf, lerf), morf_sets, lerf_sets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_numpys_linear_rule() {
        let s = [1.0, 2.0, 4.0, 8.0];
        // np.percentile([1, 2, 4, 8], [0, 25, 50, 90, 100]) = 1, 1.75, 3, 6.8, 8
        assert_eq!(percentile(&s, 0.0), 1.0);
        assert!((percentile(&s, 25.0) - 1.75).abs() < 1e-15);
        assert!((percentile(&s, 50.0) - 3.0).abs() < 1e-15);
        assert!((percentile(&s, 90.0) - 6.8).abs() < 1e-12);
        assert_eq!(percentile(&s, 100.0), 8.0);
    }

    #[test]
    fn text_steps_remove_by_percentile_with_ties_together() {
        // Scores of 4 tokens; the top token alone is ≥ the 99th percentile.
        let s = [0.1, 0.9, 0.5, 0.5];
        let (morf, lerf) = removal_sets(&s, true);
        assert_eq!((morf.len(), lerf.len()), (100, 100));
        assert_eq!(morf[0], [1]);
        // The 50th percentile is 0.5: both ties go at once.
        assert_eq!(morf[49], [1, 2, 3]);
        assert_eq!(morf[99], [0, 1, 2, 3]);
        assert_eq!(lerf[0], [0]);
        assert_eq!(lerf[49], [0, 2, 3]);
        assert_eq!(lerf[99], [0, 1, 2, 3]);
    }

    #[test]
    fn image_steps_use_strict_comparisons() {
        let s: Vec<f64> = (0..20).map(f64::from).collect();
        let (morf, lerf) = removal_sets(&s, false);
        assert_eq!((morf.len(), lerf.len()), (20, 20));
        // 95th percentile of 0..19 is 18.05: only 19 is above it.
        assert_eq!(morf[0], [19]);
        // The last MoRF step keeps the minimum; LeRF's first removes nothing, its last the
        // units below 18.05 (0..=18).
        assert_eq!(morf[19].len(), 19);
        assert!(lerf[0].is_empty());
        assert_eq!(lerf[19], (0..19).collect::<Vec<_>>());
    }

    #[test]
    fn scores_are_means_of_the_curves_and_abpc_their_difference() {
        // Hand-computed: MoRF (1 + 0.5 + 0) / 3 = 0.5; LeRF (1 + 0.9 + 0.5) / 3 = 0.8.
        let m = M4::from_curves(vec![1.0, 0.5, 0.0], vec![1.0, 0.9, 0.5]);
        assert!((m.morf - 0.5).abs() < 1e-15);
        assert!((m.lerf - 0.8).abs() < 1e-15);
        assert!((m.abpc - 0.3).abs() < 1e-15);
    }

    /// p(class 0) = the share of the free positions kept.
    struct Share(Vec<bool>);
    impl Predictor for Share {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn fixed(&self) -> &[bool] {
            &self.0
        }
        fn probs(&self, keeps: &[Vec<bool>]) -> Result<Vec<Vec<f64>>> {
            let free = self.0.iter().filter(|f| !**f).count() as f64;
            Ok(keeps
                .iter()
                .map(|k| {
                    let kept = k.iter().zip(&self.0).filter(|(k, f)| **k && !**f).count();
                    let p = kept as f64 / free;
                    vec![p, 1.0 - p]
                })
                .collect())
        }
    }

    #[test]
    fn curves_start_at_the_full_input_and_never_remove_fixed_positions() -> Result<()> {
        // [CLS] a b [SEP]: units are the two words.
        let p = Share(vec![true, false, false, true]);
        let units = vec![vec![1], vec![2]];
        let (m, morf, _) = m4(&p, &units, &[2.0, 1.0], 0, true)?;
        assert_eq!(m.morf_curve.len(), 101);
        assert_eq!(m.morf_curve[0], 1.0);
        // Percentiles of {1, 2}: q ≥ 1 exceed 1, so steps 1..=99 remove only the top word.
        assert_eq!(morf[0], [0]);
        assert_eq!(m.morf_curve[1], 0.5);
        assert_eq!(m.morf_curve[100], 0.0);
        // MoRF = (1 + 99·0.5 + 0) / 101; LeRF likewise (the bottom word alone first).
        assert!((m.morf - 50.5 / 101.0).abs() < 1e-12);
        assert!((m.lerf - 50.5 / 101.0).abs() < 1e-12);
        Ok(())
    }
}
