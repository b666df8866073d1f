//! Turning keep-masks into model inputs and class probabilities: the three ways of removing a
//! token that the literature uses, for text.
//!
//! - `delete` (ERASER): the token leaves the sequence; later tokens move up (positions are
//!   recomputed as the model family does).
//! - `pad`: the token is replaced by the pad token and stays attended.
//! - `pad-mask` (Chefer et al.; "Beyond Intuition"): replaced by the pad token and its
//!   attention-mask entry set to 0.
//!
//! Position ids are recomputed from the edited ids as Hugging Face does (RoBERTa/XLM-R count
//! non-pad tokens, so a pad in the middle shifts later positions there too).

use super::faithfulness::Predictor;
use crate::error::Result;
use crate::explain::softmax;
use crate::model::{text, Encoder, ModelConfig, ModelInput};
use candle_core::DType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Removal {
    Delete,
    Pad,
    PadMask,
}

impl Removal {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::Pad => "pad",
            Self::PadMask => "pad-mask",
        }
    }
}

/// One tokenised text and how to remove its tokens.
pub struct TextPredictor<'a> {
    pub model: &'a dyn Encoder,
    pub config: &'a ModelConfig,
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    pub special: Vec<bool>,
    pub removal: Removal,
}

impl TextPredictor<'_> {
    /// Sequences per forward pass: about 16k tokens.
    fn rows_per_pass(&self) -> usize {
        (16384 / self.ids.len().max(1)).clamp(1, 128)
    }

    fn edited(&self, keep: &[bool]) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
        let pad = self.config.pad_token_id;
        match self.removal {
            Removal::Delete => {
                let kept = |v: &[u32]| {
                    v.iter()
                        .zip(keep)
                        .filter(|(_, &k)| k)
                        .map(|(x, _)| *x)
                        .collect::<Vec<_>>()
                };
                let ids = kept(&self.ids);
                let mask = vec![1; ids.len()];
                (ids, kept(&self.type_ids), mask)
            }
            Removal::Pad | Removal::PadMask => {
                let ids = self
                    .ids
                    .iter()
                    .zip(keep)
                    .map(|(&id, &k)| if k { id } else { pad })
                    .collect();
                let mask = keep
                    .iter()
                    .map(|&k| u32::from(k || self.removal == Removal::Pad))
                    .collect();
                (ids, self.type_ids.clone(), mask)
            }
        }
    }

    fn run(&self, keeps: &[Vec<bool>]) -> Result<Vec<Vec<f64>>> {
        let mut out = Vec::with_capacity(keeps.len());
        for chunk in keeps.chunks(self.rows_per_pass()) {
            let (mut ids, mut types, mut masks) = (vec![], vec![], vec![]);
            for keep in chunk {
                let (i, t, m) = self.edited(keep);
                ids.push(i);
                types.push(t);
                masks.push(m);
            }
            let input =
                text::batch_masked(self.config, &ids, &types, Some(&masks), self.model.device())?;
            let logits = self
                .model
                .logits(&ModelInput::Text(input))?
                .to_dtype(DType::F64)?
                .to_vec2::<f64>()?;
            out.extend(logits.iter().map(|l| softmax(l)));
        }
        Ok(out)
    }
}

impl Predictor for TextPredictor<'_> {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn fixed(&self) -> &[bool] {
        &self.special
    }

    fn probs(&self, keeps: &[Vec<bool>]) -> Result<Vec<Vec<f64>>> {
        distinct_in_parallel(keeps, |chunk| self.run(chunk))
    }
}

/// Runs `run` once per distinct mask (short inputs repeat masks across thresholds and curves),
/// split over the attribution workers (one thread per core); results in `keeps` order.
pub(crate) fn distinct_in_parallel(
    keeps: &[Vec<bool>],
    run: impl Fn(&[Vec<bool>]) -> Result<Vec<Vec<f64>>> + Sync,
) -> Result<Vec<Vec<f64>>> {
    let mut distinct: Vec<Vec<bool>> = Vec::new();
    let mut index: std::collections::HashMap<&[bool], usize> = Default::default();
    let slots: Vec<usize> = keeps
        .iter()
        .map(|k| {
            *index.entry(k.as_slice()).or_insert_with(|| {
                distinct.push(k.clone());
                distinct.len() - 1
            })
        })
        .collect();
    let workers = crate::attr::batching::workers().min(distinct.len()).max(1);
    let per = distinct.len().div_ceil(workers).max(1);
    let parts: Vec<&[Vec<bool>]> = distinct.chunks(per).collect();
    let probs: Vec<Vec<f64>> = crate::attr::batching::map_parallel(&parts, |c| run(c))?
        .into_iter()
        .flatten()
        .collect();
    Ok(slots.into_iter().map(|i| probs[i].clone()).collect())
}
