//! Where one method entry's token scores for one example come from: the attribution cache, or
//! computed and cached — by the method (sharing work with the example's other entries through
//! an [`attr::Memo`](crate::attr::Memo)), as seeded random scores, or from an attributions file
//! made elsewhere.

use super::cache::{example_key, Cached, MethodCache};
use super::example::at;
use super::spec::{Kind, MethodSpec};
use super::units::Units;
use crate::attr::{Delta, Memo};
use crate::data::{Example, WordScores};
use crate::error::{CaligError, Result};
use crate::explain::{explain_prepared_with, prepare, Prepared};
use crate::model::LoadedModel;
use rand::{Rng, SeedableRng};

/// What producing one method's scores cost over a run.
#[derive(Debug, Clone, Default)]
pub(super) struct Counts {
    /// Attribution time (ms) of the scores computed in this run.
    pub(super) ms: f64,
    pub(super) computed: usize,
    pub(super) cached: usize,
}

/// The scores of one method entry on one example, for whichever class a metric explains.
pub(super) struct ScoreSource<'s, 'a> {
    pub(super) m: &'a LoadedModel,
    /// The copy of the model in the entry's own dtype (`dtype=`), if it named another.
    pub(super) own_model: Option<&'a LoadedModel>,
    pub(super) ex: &'s Example,
    pub(super) spec: &'s MethodSpec,
    pub(super) prepared: &'s mut Prepared<'a>,
    /// The example's whitespace tokens (the units of external word scores).
    pub(super) whitespace: &'s Units,
    /// Positions that are never scored (special tokens), and how many positions there are.
    pub(super) fixed: &'s [bool],
    pub(super) seed: u64,
    /// Attributions made elsewhere: per file, example id → one score per whitespace word.
    pub(super) external: &'s [WordScores],
    pub(super) cache: &'s mut MethodCache,
    pub(super) memo: &'s mut Memo,
    pub(super) counts: &'s mut Counts,
    /// The keys already counted for this example (the predicted and gold class often
    /// coincide).
    pub(super) seen: Vec<String>,
}

impl ScoreSource<'_, '_> {
    /// Token scores explaining `target`.
    pub(super) fn scores(&mut self, target: usize) -> Result<Vec<f64>> {
        let key = example_key(&self.ex.key_text(), target);
        let first_time = !self.seen.contains(&key);
        if first_time {
            self.seen.push(key.clone());
        }
        if let Some(c) = self.cache.records.get(&key) {
            if first_time {
                self.counts.cached += 1;
            }
            return Ok(c.scores.clone());
        }
        if first_time {
            self.counts.computed += 1;
        }
        let (scores, ms, delta) = self.compute(&key, target)?;
        self.counts.ms += ms;
        self.cache.insert(Cached {
            key,
            scores: scores.clone(),
            ms,
            max_abs_delta: delta,
        })?;
        Ok(scores)
    }

    /// (scores, attribution time in ms, largest |convergence delta|).
    fn compute(&mut self, key: &str, target: usize) -> Result<(Vec<f64>, f64, Option<f64>)> {
        Ok(match self.spec.kind {
            Kind::Random => (random_scores(self.seed, key, self.fixed), 0.0, None),
            Kind::External { index, .. } => {
                let words = self.external[index].get(&self.ex.id).ok_or_else(|| {
                    CaligError::InvalidInput(format!(
                        "the attributions file of `{}` has no line for example `{}`",
                        self.spec.name, self.ex.id
                    ))
                })?;
                let scores =
                    spread_word_scores(self.whitespace, words, self.fixed.len(), &self.ex.id)?;
                (scores, 0.0, None)
            }
            Kind::Method(method) => {
                let run_tf32 = crate::runtime::tf32();
                let tf32 = self.spec.precision.and_then(|p| p.tf32).unwrap_or(run_tf32);
                let _tf32 = crate::runtime::Tf32Scope::new(tf32);
                // An entry in its own precision gets its own prepared input and memo (the
                // example's hold the evaluated model's values, which TF32 also changes).
                let separate = self.own_model.is_some() || tf32 != run_tf32;
                let mut own = match self.own_model {
                    Some(m) => Some((m, prepare(m, &self.ex.input(), None)?)),
                    None => None,
                };
                let (m, prepared): (&LoadedModel, &mut Prepared) = match &mut own {
                    Some((m, p)) => (*m, p),
                    None => (self.m, &mut *self.prepared),
                };
                prepared.subject.target = target;
                let mut fresh = Memo::default();
                let memo = if separate {
                    &mut fresh
                } else {
                    &mut *self.memo
                };
                let e = explain_prepared_with(m, prepared, method, &self.spec.params, memo)
                    .map_err(at(self.ex))?;
                (e.scores, e.timing_ms, max_abs_delta(&e.convergence_delta))
            }
        })
    }
}

/// Seeded uniform scores in [0, 1), 0 at the fixed (special) positions: the floor of every
/// table.
fn random_scores(seed: u64, key: &str, fixed: &[bool]) -> Vec<f64> {
    let h = super::fnv1a(seed ^ 0x9e37_79b9_7f4a_7c15, key.bytes());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(h);
    fixed
        .iter()
        .map(|&s| if s { 0.0 } else { rng.random::<f64>() })
        .collect()
}

/// Token scores from external word scores: each whitespace word's score split evenly over its
/// sub-tokens, so that every unit sum is the word's score.
fn spread_word_scores(words: &Units, scores: &[f64], tokens: usize, id: &str) -> Result<Vec<f64>> {
    if scores.len() < words.positions.len() {
        return Err(CaligError::InvalidInput(format!(
            "the attributions for example `{id}` give {} word scores; its text has {} \
             whitespace-separated words (within the model's window)",
            scores.len(),
            words.positions.len()
        )));
    }
    let mut out = vec![0.0; tokens];
    for (p, &s) in words.positions.iter().zip(scores) {
        for &t in p {
            out[t] = s / p.len() as f64;
        }
    }
    Ok(out)
}

pub(super) fn max_abs_delta(d: &Delta) -> Option<f64> {
    match d {
        Delta::None => None,
        Delta::Scalar(x) => Some(x.abs()),
        Delta::PerLayer(v) => v.iter().flatten().map(|x| x.abs()).reduce(f64::max),
    }
}
