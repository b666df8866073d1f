//! ferret's benchmark metrics (Attanasio et al. 2023, `ferret-xai` 0.4.2,
//! `ferret/evaluators/`), as its code computes them, so that `--preset ferret` numbers can be
//! set beside a ferret table:
//!
//! - Units are the sub-word tokens without the first and last (\[CLS\]/\[SEP\], `<s>`/`</s>`).
//! - A hard rationale of size k keeps, of the k highest-scoring tokens, those with a score > 0
//!   (`only_pos`); an empty one is "no rationale".
//! - `aopc_compr` / `aopc_suff`: for t = 0.1, 0.2, …, 1.0 (numpy's `arange(0.1, 1.1, 0.1)`),
//!   k = ⌊t·n⌋; thresholds with k = 0, no rationale, or the same token set as the previous
//!   threshold are skipped; the score is the mean over the rest of p(x) − p(x ∖ r)
//!   (comprehensiveness) or p(x) − p(r) (sufficiency); with nothing left, 0 and 1.
//! - `taucorr_loo`: Kendall τ-b between the scores and leave-one-out importances
//!   p(x) − p(x ∖ {i}).
//! - Plausibility against the human rationale's tokens, with the top-k rationale (k = the mean
//!   rationale size of the data set): `token_f1_plau` (F1 of that instance's precision and
//!   recall), `token_iou_plau` (|A∩B| / |A∪B|), `auprc_plau` (negative scores set to 0).
//!
//! Removal (the [`Predictor`] given) deletes tokens, decodes what is left and tokenises the text
//! again, as ferret does; see [`super::removal::Retokenized`].

use super::faithfulness::Predictor;
use super::plausibility;
use crate::error::Result;
use std::collections::BTreeSet;

/// The units of a single sequence's per-token values: every token but the first and the last
/// (ferret's `remove_first_last`).
pub fn inner<T>(per_token: &[T]) -> &[T] {
    match per_token.len() {
        0..=2 => &[],
        n => &per_token[1..n - 1],
    }
}

/// ferret's thresholds, bit for bit as `numpy.arange(0.1, 1.1, 0.1)` computes them
/// (start + i·(second − start)), so that ⌊t·n⌋ matches (0.30000000000000004 · 10 = 3).
pub fn thresholds() -> [f64; 10] {
    let start = 0.1f64;
    let step = (start + 0.1) - start;
    std::array::from_fn(|i| start + i as f64 * step)
}

/// ferret's `_get_id_tokens_top_k` with `only_pos`: of the `k` highest scores (ties: the later
/// index first, as numpy's ascending argsort read backwards), those > 0, highest first. `None`
/// when none is left.
pub fn top_positive(scores: &[f64], k: usize) -> Option<Vec<usize>> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    // Ascending and stable, then read from the end: equal scores come out later index first.
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let top: Vec<usize> = idx
        .iter()
        .rev()
        .take(k)
        .copied()
        .filter(|&i| scores[i] > 0.0)
        .collect();
    (!top.is_empty()).then_some(top)
}

/// ferret's AOPC scores of one input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aopc {
    pub comprehensiveness: f64,
    pub sufficiency: f64,
    /// Thresholds that were not skipped.
    pub used: usize,
}

/// `aopc_compr` and `aopc_suff` of `scores` (one per unit of `p`) for class `class`, whose
/// probability at the full input is `p_full`; one batched model call.
pub fn aopc(p: &dyn Predictor, scores: &[f64], class: usize, p_full: f64) -> Result<Aopc> {
    let n = scores.len();
    let mut rationales: Vec<Vec<usize>> = Vec::new();
    let mut last: Option<BTreeSet<usize>> = None;
    for t in thresholds() {
        let k = (t * n as f64) as usize;
        if k == 0 {
            continue;
        }
        let Some(top) = top_positive(scores, k) else {
            continue;
        };
        let set: BTreeSet<usize> = top.iter().copied().collect();
        if last.as_ref() == Some(&set) {
            continue;
        }
        rationales.push(top);
        last = Some(set);
    }
    if rationales.is_empty() {
        return Ok(Aopc {
            comprehensiveness: 0.0,
            sufficiency: 1.0,
            used: 0,
        });
    }
    let mut keeps = Vec::with_capacity(2 * rationales.len());
    for keep_only in [false, true] {
        for r in &rationales {
            let mut keep = vec![!keep_only; n];
            for &i in r {
                keep[i] = keep_only;
            }
            keeps.push(keep);
        }
    }
    let probs = p.probs(&keeps)?;
    let drop: Vec<f64> = probs.iter().map(|q| p_full - q[class]).collect();
    let (without, only) = drop.split_at(rationales.len());
    Ok(Aopc {
        comprehensiveness: super::stats::mean(without),
        sufficiency: super::stats::mean(only),
        used: rationales.len(),
    })
}

/// Leave-one-out importances p(x) − p(x ∖ {i}) of every unit (the same for every method).
pub fn leave_one_out(p: &dyn Predictor, class: usize, p_full: f64) -> Result<Vec<f64>> {
    let n = p.len();
    let keeps: Vec<Vec<bool>> = (0..n).map(|i| (0..n).map(|j| j != i).collect()).collect();
    Ok(p.probs(&keeps)?.iter().map(|q| p_full - q[class]).collect())
}

/// Kendall's τ-b (scipy's `kendalltau` default): (concordant − discordant) / √((n₀ − n₁)(n₀ −
/// n₂)) with n₁, n₂ the pairs tied in x, in y. `None` when either side is constant (scipy: nan).
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    let (mut concordant, mut discordant, mut tied_x, mut tied_y) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let dx = x[i] - x[j];
            let dy = y[i] - y[j];
            match (dx == 0.0, dy == 0.0) {
                (true, true) => {
                    tied_x += 1;
                    tied_y += 1;
                }
                (true, false) => tied_x += 1,
                (false, true) => tied_y += 1,
                (false, false) if (dx > 0.0) == (dy > 0.0) => concordant += 1,
                (false, false) => discordant += 1,
            }
        }
    }
    let pairs = (n * n.saturating_sub(1) / 2) as i64;
    let denom = ((pairs - tied_x) as f64 * (pairs - tied_y) as f64).sqrt();
    (denom > 0.0).then(|| (concordant - discordant) as f64 / denom)
}

/// ferret's hard-rationale plausibility of one instance: token F1 and token IOU of the top-k
/// positive tokens against the gold tokens (both 0 when there is no rationale).
pub fn hard_plausibility(scores: &[f64], gold: &BTreeSet<usize>, k: usize) -> (f64, f64) {
    let Some(top) = top_positive(scores, k) else {
        return (0.0, 0.0);
    };
    // F1 of precision |A∩B|/|A| and recall |A∩B|/|B| is ERASER's 2|A∩B| / (|A| + |B|).
    let f1 = plausibility::token_f1(&top, gold);
    let hits = top.iter().filter(|i| gold.contains(i)).count() as f64;
    let union = (top.len() + gold.len()) as f64 - hits;
    (f1, if union == 0.0 { 0.0 } else { hits / union })
}

/// `auprc_plau`: AUPRC of the scores with negative ones set to 0.
pub fn auprc_positive(scores: &[f64], gold: &BTreeSet<usize>) -> Option<f64> {
    let clamped: Vec<f64> = scores
        .iter()
        .map(|&v| if v > 0.0 { v } else { 0.0 })
        .collect();
    plausibility::auprc(&clamped, gold)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// p(class 1) = the kept share of fixed unit weights.
    struct Weights(Vec<f64>);

    impl Predictor for Weights {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn fixed(&self) -> &[bool] {
            &[]
        }
        fn probs(&self, keeps: &[Vec<bool>]) -> Result<Vec<Vec<f64>>> {
            let total: f64 = self.0.iter().sum();
            Ok(keeps
                .iter()
                .map(|k| {
                    let kept: f64 = self
                        .0
                        .iter()
                        .zip(k)
                        .filter(|(_, &k)| k)
                        .map(|(w, _)| w)
                        .sum();
                    vec![1.0 - kept / total, kept / total]
                })
                .collect())
        }
    }

    #[test]
    fn thresholds_are_numpys() {
        // numpy.arange(0.1, 1.1, 0.1).tolist()
        let want = [
            0.1,
            0.2,
            0.30000000000000004,
            0.4,
            0.5,
            0.6,
            0.7000000000000001,
            0.8,
            0.9,
            1.0,
        ];
        assert_eq!(thresholds(), want);
        assert_eq!((thresholds()[2] * 10.0) as usize, 3);
        assert_eq!(inner(&[1, 2, 3, 4]), &[2, 3]);
        assert!(inner(&[1, 2]).is_empty() && inner::<u32>(&[]).is_empty());
    }

    #[test]
    fn top_positive_drops_non_positive_scores() {
        assert_eq!(top_positive(&[0.5, -1.0, 2.0, 0.0], 3), Some(vec![2, 0]));
        assert_eq!(top_positive(&[-0.5, 0.0], 2), None);
        // numpy: argsort([1, 1, 1])[-2:][::-1] = [2, 1].
        assert_eq!(top_positive(&[1.0, 1.0, 1.0], 2), Some(vec![2, 1]));
    }

    #[test]
    fn aopc_by_hand() {
        // Weights 4, 3, 2, 1 (total 10); scores rank them in order but unit 3 scores < 0.
        let p = Weights(vec![4.0, 3.0, 2.0, 1.0]);
        let scores = [0.4, 0.3, 0.2, -0.1];
        // n = 4: k = 0 (t = .1, .2), 1 (.3, .4, .5 → one rationale {0}; the repeats skipped),
        // 2 (.6, .7 → {0, 1}), 3 (.8, .9 → {0, 1, 2}), 4 (1.0 → the positive top = {0, 1, 2},
        // the same set: skipped). Rationales {0}, {0,1}, {0,1,2}: removed weight 4, 7, 9.
        let a = aopc(&p, &scores, 1, 1.0).unwrap();
        assert_eq!(a.used, 3);
        assert!((a.comprehensiveness - (0.4 + 0.7 + 0.9) / 3.0).abs() < 1e-12);
        // Sufficiency: p(r) = 0.4, 0.7, 0.9 → 1 − those.
        assert!((a.sufficiency - (0.6 + 0.3 + 0.1) / 3.0).abs() < 1e-12);
        // No positive score at all: ferret's defaults.
        let none = aopc(&p, &[-1.0; 4], 1, 1.0).unwrap();
        assert_eq!(
            (none.comprehensiveness, none.sufficiency, none.used),
            (0.0, 1.0, 0)
        );
    }

    #[test]
    fn leave_one_out_and_tau() {
        let p = Weights(vec![4.0, 3.0, 2.0, 1.0]);
        let loo = leave_one_out(&p, 1, 1.0).unwrap();
        for (got, want) in loo.iter().zip([0.4, 0.3, 0.2, 0.1]) {
            assert!((got - want).abs() < 1e-12);
        }
        assert_eq!(kendall_tau_b(&loo, &[4.0, 3.0, 2.0, 1.0]), Some(1.0));
        assert_eq!(kendall_tau_b(&loo, &[1.0, 2.0, 3.0, 4.0]), Some(-1.0));
        // scipy.stats.kendalltau([1, 2, 3, 4, 5], [1, 3, 2, 2, 5]).statistic = 0.5270462766947298
        // (7 concordant, 2 discordant, one pair tied in y: 5 / √(10 · 9))
        let t = kendall_tau_b(&[1.0, 2.0, 3.0, 4.0, 5.0], &[1.0, 3.0, 2.0, 2.0, 5.0]).unwrap();
        assert!((t - 0.527_046_276_694_729_8).abs() < 1e-12, "{t}");
        // scipy: kendalltau([1, 1, 2, 2], [1, 2, 1, 2]).statistic = 0.0; constant → nan.
        assert_eq!(
            kendall_tau_b(&[1.0, 1.0, 2.0, 2.0], &[1.0, 2.0, 1.0, 2.0]),
            Some(0.0)
        );
        assert_eq!(kendall_tau_b(&[1.0, 1.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn plausibility_by_hand() {
        let gold: BTreeSet<usize> = [1, 2, 3].into_iter().collect();
        // Top 2 positive: {0, 1}: one hit; P = 1/2, R = 1/3, F1 = 0.4; IOU = 1 / 4.
        let (f1, iou) = hard_plausibility(&[0.9, 0.8, -0.2, 0.1, 0.0], &gold, 2);
        assert!((f1 - 0.4).abs() < 1e-12 && (iou - 0.25).abs() < 1e-12);
        assert_eq!(hard_plausibility(&[-1.0, -1.0], &gold, 2), (0.0, 0.0));
        // Negative scores count as 0: [0, 0.5, 0, 0.2] against gold {1, 3} ranks both first.
        let g: BTreeSet<usize> = [1, 3].into_iter().collect();
        assert!((auprc_positive(&[-3.0, 0.5, -1.0, 0.2], &g).unwrap() - 1.0).abs() < 1e-12);
    }
}
