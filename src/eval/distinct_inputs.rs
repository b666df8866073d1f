//! Scheduling the inputs of the removal metrics: each distinct input once (short inputs repeat
//! masks across thresholds and curves; the metrics of one method share several), longest first,
//! in runs of about equal cost per worker.

use super::faithfulness::Predictor;
use crate::error::Result;
use crate::runtime::Runtime;
use std::cell::RefCell;
use std::collections::HashMap;

/// A predictor that answers each distinct keep-mask once across calls: one method's metrics
/// share masks (ERASER's 10/20/50 % are the deletion and insertion curves' points; the full and
/// the empty input are in both curve calls and the perturbation test). Equal masks get the same
/// probabilities, bit for bit, whichever call asked first.
pub(crate) struct Memoized<'a> {
    inner: &'a dyn Predictor,
    seen: RefCell<HashMap<Vec<bool>, Vec<f64>>>,
}

impl<'a> Memoized<'a> {
    pub(crate) fn new(inner: &'a dyn Predictor) -> Self {
        Self {
            inner,
            seen: RefCell::default(),
        }
    }
}

impl Predictor for Memoized<'_> {
    fn len(&self) -> usize {
        self.inner.len()
    }

    fn fixed(&self) -> &[bool] {
        self.inner.fixed()
    }

    fn probs(&self, keeps: &[Vec<bool>]) -> Result<Vec<Vec<f64>>> {
        let mut seen = self.seen.borrow_mut();
        let mut missing: Vec<Vec<bool>> = Vec::new();
        for k in keeps {
            if !seen.contains_key(k) && !missing.contains(k) {
                missing.push(k.clone());
            }
        }
        if !missing.is_empty() {
            let fresh = self.inner.probs(&missing)?;
            seen.extend(missing.into_iter().zip(fresh));
        }
        Ok(keeps.iter().map(|k| seen[k].clone()).collect())
    }
}

/// Runs `run` once per distinct input, split over the attribution workers (one thread per core);
/// results in `inputs` order. Equal inputs therefore get bit-equal probabilities, whatever batch
/// they would have landed in. The distinct inputs go longest first by `length` (a stable order:
/// equal lengths keep theirs) and are cut into one run of consecutive inputs per worker with
/// about equal total length, so each run's batches pad little and the workers finish together.
pub(crate) fn distinct_in_parallel<K: std::hash::Hash + Eq + Clone + Sync>(
    runtime: &Runtime,
    inputs: &[K],
    length: impl Fn(&K) -> usize,
    run: impl Fn(&[K]) -> Result<Vec<Vec<f64>>> + Sync,
) -> Result<Vec<Vec<f64>>> {
    let mut distinct: Vec<K> = Vec::new();
    let mut index: HashMap<&K, usize> = Default::default();
    let slots: Vec<usize> = inputs
        .iter()
        .map(|k| {
            *index.entry(k).or_insert_with(|| {
                distinct.push(k.clone());
                distinct.len() - 1
            })
        })
        .collect();
    let lengths: Vec<usize> = distinct.iter().map(&length).collect();
    let mut order: Vec<usize> = (0..distinct.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    let sorted: Vec<K> = order.iter().map(|&i| distinct[i].clone()).collect();
    let costs: Vec<usize> = order.iter().map(|&i| lengths[i].max(1)).collect();
    let workers = runtime.workers.min(sorted.len()).max(1);
    let parts: Vec<&[K]> = balanced_runs(&costs, workers)
        .into_iter()
        .map(|r| &sorted[r])
        .collect();
    let in_sorted_order: Vec<Vec<f64>> = runtime
        .map_parallel(&parts, |c| run(c))?
        .into_iter()
        .flatten()
        .collect();
    let mut probs = vec![Vec::new(); distinct.len()];
    for (p, &i) in in_sorted_order.into_iter().zip(&order) {
        probs[i] = p;
    }
    Ok(slots.into_iter().map(|i| probs[i].clone()).collect())
}

/// At most `parts` consecutive ranges of `costs` with about equal sums: range w ends at the
/// first index whose running sum reaches w/parts of the total (equal costs: ⌈n/parts⌉ first).
fn balanced_runs(costs: &[usize], parts: usize) -> Vec<std::ops::Range<usize>> {
    let total: usize = costs.iter().sum();
    let (mut runs, mut start, mut sum) = (Vec::new(), 0, 0);
    for (i, c) in costs.iter().enumerate() {
        sum += c;
        let w = runs.len() + 1;
        if w < parts && sum * parts >= total * w {
            runs.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < costs.len() {
        runs.push(start..costs.len());
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Class-1 probability = kept share; counts the rows it is asked for.
    struct Share {
        fixed: Vec<bool>,
        rows: std::cell::Cell<usize>,
    }

    impl Predictor for Share {
        fn len(&self) -> usize {
            self.fixed.len()
        }
        fn fixed(&self) -> &[bool] {
            &self.fixed
        }
        fn probs(&self, keeps: &[Vec<bool>]) -> Result<Vec<Vec<f64>>> {
            self.rows.set(self.rows.get() + keeps.len());
            Ok(keeps
                .iter()
                .map(|k| {
                    let p = k.iter().filter(|&&x| x).count() as f64 / k.len() as f64;
                    vec![1.0 - p, p]
                })
                .collect())
        }
    }

    #[test]
    fn memoized_asks_for_each_distinct_mask_once_across_calls() {
        let share = Share {
            fixed: vec![false; 4],
            rows: Default::default(),
        };
        let m = Memoized::new(&share);
        let (all, none) = (vec![true; 4], vec![false; 4]);
        let half = vec![true, true, false, false];
        let first = m.probs(&[all.clone(), half.clone(), all.clone()]).unwrap();
        assert_eq!(first, vec![vec![0.0, 1.0], vec![0.5, 0.5], vec![0.0, 1.0]]);
        assert_eq!(share.rows.get(), 2);
        let second = m.probs(&[none.clone(), half, all]).unwrap();
        assert_eq!(second, vec![vec![1.0, 0.0], vec![0.5, 0.5], vec![0.0, 1.0]]);
        // Only the empty mask was new.
        assert_eq!(share.rows.get(), 3);
        assert_eq!((m.len(), m.fixed()), (4, &[false; 4][..]));
    }

    #[test]
    fn equal_costs_split_as_halves_with_the_longer_first() {
        assert_eq!(balanced_runs(&[1; 5], 2), vec![0..3, 3..5]);
        assert_eq!(balanced_runs(&[1; 4], 2), vec![0..2, 2..4]);
        assert_eq!(balanced_runs(&[1; 3], 1), vec![0..3]);
    }

    #[test]
    fn runs_cover_the_costs_in_order_with_about_equal_sums() {
        // Total 16: the first run closes once it reaches 8 (10 alone), the rest takes 6.
        assert_eq!(balanced_runs(&[10, 3, 2, 1], 2), vec![0..1, 1..4]);
        // Thirds of 12: at 4 (4), at 8 (4+4), the rest.
        assert_eq!(balanced_runs(&[4, 4, 2, 1, 1], 3), vec![0..1, 1..2, 2..5]);
        assert_eq!(balanced_runs(&[], 2), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(balanced_runs(&[5], 4), vec![0..1]);
    }

    #[test]
    fn each_distinct_input_runs_once_longest_first_and_results_come_back_in_input_order() {
        let inputs = vec![
            vec![1u32],
            vec![2, 2, 2],
            vec![1],
            vec![3, 3],
            vec![2, 2, 2],
        ];
        let seen = Mutex::new(Vec::new());
        let probs = distinct_in_parallel(
            &Runtime::cpu(),
            &inputs,
            |k| k.len(),
            |chunk| {
                seen.lock().unwrap().extend(chunk.iter().cloned());
                // Longest first within every run.
                assert!(chunk.windows(2).all(|w| w[0].len() >= w[1].len()));
                Ok(chunk
                    .iter()
                    .map(|k| vec![k[0] as f64, k.len() as f64])
                    .collect())
            },
        )
        .unwrap();
        let expected: Vec<Vec<f64>> = inputs
            .iter()
            .map(|k| vec![k[0] as f64, k.len() as f64])
            .collect();
        assert_eq!(probs, expected);
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, vec![vec![1], vec![2, 2, 2], vec![3, 3]]);
    }
}
