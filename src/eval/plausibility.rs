//! Plausibility: agreement of an attribution with human rationales (ERASER, DeYoung et al. 2020;
//! token-F1@k as in Chefer et al. CVPR 2021 and "Beyond Intuition"). All functions work on one
//! document's units (ERASER word tokens) and return that document's value; tables average them
//! (instance-macro).

use std::collections::BTreeSet;

/// k values of the token-F1@k curve: 5, 10, …, 80 words.
pub const TOKEN_F1_KS: [usize; 16] = [
    5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80,
];

/// IOU threshold at which a predicted span counts as found.
pub const IOU_THRESHOLD: f64 = 0.5;

/// Indices of the `k` largest scores after clamping at 0 (fewer when there are fewer units);
/// ties go to the lower index (a stable descending sort, like `torch.topk` on CPU in practice).
pub fn top_k(scores: &[f64], k: usize) -> Vec<usize> {
    // An explicit clamp: `f64::max` may return −0.0, which `total_cmp` ranks below +0.0.
    let clamp = |x: f64| if x > 0.0 { x } else { 0.0 };
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| clamp(scores[b]).total_cmp(&clamp(scores[a])));
    idx.truncate(k);
    idx.sort_unstable();
    idx
}

/// Token F1 of a predicted unit set against the gold set: 2|P∩G| / (|P| + |G|), 0 when they do
/// not meet.
pub fn token_f1(predicted: &[usize], gold: &BTreeSet<usize>) -> f64 {
    let hits = predicted.iter().filter(|i| gold.contains(i)).count();
    if hits == 0 {
        return 0.0;
    }
    2.0 * hits as f64 / (predicted.len() + gold.len()) as f64
}

/// Maximal runs of consecutive indices as half-open spans.
pub fn spans(sorted_units: &[usize]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &u in sorted_units {
        match out.last_mut() {
            Some(last) if last.1 == u => last.1 = u + 1,
            _ => out.push((u, u + 1)),
        }
    }
    out
}

fn iou(a: (usize, usize), b: (usize, usize)) -> f64 {
    let inter = a.1.min(b.1).saturating_sub(a.0.max(b.0));
    let union = (a.1 - a.0) + (b.1 - b.0) - inter;
    if union == 0 {
        0.0
    } else {
        inter as f64 / union as f64
    }
}

/// One document's partial-match counts (ERASER `partial_match_score`): predicted spans whose
/// best IOU with a gold span reaches the threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpanMatch {
    pub precision: f64,
    pub recall: f64,
}

impl SpanMatch {
    pub fn f1(&self) -> f64 {
        f1(self.precision, self.recall)
    }
}

pub fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

pub fn span_match(predicted: &[(usize, usize)], gold: &[(usize, usize)]) -> SpanMatch {
    let tps = predicted
        .iter()
        .filter(|&&p| gold.iter().map(|&g| iou(p, g)).fold(0.0, f64::max) >= IOU_THRESHOLD)
        .count() as f64;
    let ratio = |n: usize| if n == 0 { 0.0 } else { tps / n as f64 };
    SpanMatch {
        precision: ratio(predicted.len()),
        recall: ratio(gold.len()),
    }
}

/// IOU-F1 over documents: F1 of the macro-averaged precision and recall (ERASER's headline).
pub fn corpus_iou_f1(matches: &[SpanMatch]) -> f64 {
    let n = matches.len().max(1) as f64;
    let p = matches.iter().map(|m| m.precision).sum::<f64>() / n;
    let r = matches.iter().map(|m| m.recall).sum::<f64>() / n;
    f1(p, r)
}

/// Area under the precision–recall curve of soft scores against gold labels, as scikit-learn's
/// `auc(recall, precision)` after `precision_recall_curve`: one point per distinct score
/// (predict positive when score ≥ threshold) plus (recall 0, precision 1), trapezoids over
/// recall. `None` when there is no gold unit.
pub fn auprc(scores: &[f64], gold: &BTreeSet<usize>) -> Option<f64> {
    let positives = gold.len();
    if positives == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut points = vec![(0.0, 1.0)]; // (recall, precision)
    let (mut tp, mut fp) = (0usize, 0usize);
    for (rank, &i) in idx.iter().enumerate() {
        if gold.contains(&i) {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = idx
            .get(rank + 1)
            .is_none_or(|&next| scores[next] != scores[i]);
        if last_of_tie {
            points.push((tp as f64 / positives as f64, tp as f64 / (tp + fp) as f64));
        }
    }
    Some(
        points
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[usize]) -> BTreeSet<usize> {
        v.iter().copied().collect()
    }

    #[test]
    fn top_k_clamps_and_breaks_ties_by_position() {
        // Clamped: [0, 3, 0, 3, 1] → 3 (index 1), 3 (index 3), 1 (index 4), then the zeros by
        // position: 0, 2.
        let s = [-5.0, 3.0, -1.0, 3.0, 1.0];
        assert_eq!(top_k(&s, 2), vec![1, 3]);
        assert_eq!(top_k(&s, 4), vec![0, 1, 3, 4]);
        assert_eq!(top_k(&s, 10).len(), 5);
    }

    #[test]
    fn token_f1_by_hand() {
        // P = {1, 2, 3}, G = {2, 3, 4, 5}: 2·2 / (3 + 4) = 4/7.
        assert!((token_f1(&[1, 2, 3], &set(&[2, 3, 4, 5])) - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(token_f1(&[0], &set(&[1])), 0.0);
        assert_eq!(token_f1(&[1], &set(&[1])), 1.0);
    }

    #[test]
    fn spans_and_partial_match() {
        assert_eq!(spans(&[1, 2, 3, 7, 9, 10]), vec![(1, 4), (7, 8), (9, 11)]);
        // Gold (0,4) and (8,12). Predicted (1,4): IOU 3/4 ✓; (7,8): 0 ✗; (9,11): 2/4 ✓ (= 0.5).
        let m = span_match(&[(1, 4), (7, 8), (9, 11)], &[(0, 4), (8, 12)]);
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.recall - 1.0).abs() < 1e-12);
        assert!((m.f1() - 0.8).abs() < 1e-12);
        let none = span_match(&[], &[(0, 1)]);
        assert_eq!((none.precision, none.recall), (0.0, 0.0));
        // Corpus: macro P = (2/3 + 0)/2, macro R = (1 + 0)/2 → F1 = 2·(1/3)(1/2)/(5/6) = 0.4.
        assert!((corpus_iou_f1(&[m, none]) - 0.4).abs() < 1e-12);
    }

    #[test]
    fn auprc_by_hand() {
        // Scores 0.9 (gold), 0.8, 0.7 (gold), 0.1. Points (R, P): (0,1), (.5,1), (.5,.5),
        // (1,2/3), (1,.5). Area: .5·1 + 0 + .5·(.5 + 2/3)/2 + 0 = 0.5 + 0.291666…
        let a = auprc(&[0.9, 0.8, 0.7, 0.1], &set(&[0, 2])).unwrap();
        assert!(
            (a - (0.5 + 0.5 * (0.5 + 2.0 / 3.0) / 2.0)).abs() < 1e-12,
            "{a}"
        );
        // Perfect ranking: 1. Ties form one point: all tied → precision = base rate.
        assert!((auprc(&[2.0, 1.0, 0.0], &set(&[0])).unwrap() - 1.0).abs() < 1e-12);
        let tied = auprc(&[1.0; 4], &set(&[0])).unwrap();
        assert!((tied - (1.0 + 0.25) / 2.0).abs() < 1e-12, "{tied}");
        assert_eq!(auprc(&[1.0], &set(&[])), None);
    }
}
