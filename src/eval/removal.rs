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

use super::distinct_inputs::distinct_in_parallel;
use super::faithfulness::Predictor;
use crate::error::Result;
use crate::explain::softmax;
use crate::model::text::{self, TextTokenizer};
use crate::model::{Encoder, ModelConfig, ModelInput};
use candle_core::DType;
use strum::{EnumMessage, IntoStaticStr, VariantArray};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[derive(VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "kebab-case")]
pub enum Removal {
    /// Removed tokens are deleted from the sequence (ERASER).
    Delete,
    /// Removed tokens become the pad token, still attended to.
    Pad,
    /// Removed tokens become the pad token with attention mask 0 (Chefer et al.).
    PadMask,
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

    /// Tokens left after applying `keep`: the length of the edited input.
    fn kept_len(&self, keep: &[bool]) -> usize {
        match self.removal {
            Removal::Delete => keep.iter().filter(|&&k| k).count(),
            Removal::Pad | Removal::PadMask => self.ids.len(),
        }
    }

    /// `keeps` come longest first ([`distinct_in_parallel`]); each forward pass takes the next
    /// rows that fit the token budget when padded to the first (longest) of them, so deleting
    /// most of a long text does not cost a full-length row.
    fn run(&self, keeps: &[Vec<bool>]) -> Result<Vec<Vec<f64>>> {
        let mut out = Vec::with_capacity(keeps.len());
        let mut rest = keeps;
        while !rest.is_empty() {
            let rows = rows_per_pass(self.kept_len(&rest[0])).min(rest.len());
            let (chunk, tail) = rest.split_at(rows);
            rest = tail;
            let (mut ids, mut types, mut masks) = (vec![], vec![], vec![]);
            for keep in chunk {
                let (i, t, m) = self.edited(keep);
                ids.push(i);
                types.push(t);
                masks.push(m);
            }
            out.extend(probs_of(
                self.model,
                self.config,
                &ids,
                &types,
                Some(&masks),
            )?);
        }
        Ok(out)
    }
}

/// Sequences per forward pass: about 16k tokens.
fn rows_per_pass(len: usize) -> usize {
    (16384 / len.max(1)).clamp(1, 128)
}

/// Class probabilities of a batch of sequences.
fn probs_of(
    model: &dyn Encoder,
    config: &ModelConfig,
    ids: &[Vec<u32>],
    types: &[Vec<u32>],
    masks: Option<&[Vec<u32>]>,
) -> Result<Vec<Vec<f64>>> {
    let input = text::batch_masked(config, ids, types, masks, model.device())?;
    let logits = model
        .logits(&ModelInput::Text(input))?
        .to_dtype(DType::F64)?
        .to_vec2::<f64>()?;
    Ok(logits.iter().map(|l| softmax(l)).collect())
}

/// softmax computed in float32 (max subtracted, as PyTorch does), widened to f64.
fn softmax_f32(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|&e| f64::from(e / sum)).collect()
}

/// ferret's removal: the units are the tokens between the first and the last (the special
/// tokens of a single sequence); the kept ones are decoded to text and the text is tokenised
/// again, so a word cut in two by a removal is read as the tokenizer reads the new text (ferret
/// 0.4.2, `evaluators/faithfulness_measures.py`).
pub struct Retokenized<'a> {
    model: &'a dyn Encoder,
    config: &'a ModelConfig,
    tokenizer: &'a TextTokenizer,
    content: Vec<u32>,
    none_fixed: Vec<bool>,
}

impl<'a> Retokenized<'a> {
    /// `ids`: the explained input's token ids, special tokens first and last.
    pub fn new(
        model: &'a dyn Encoder,
        config: &'a ModelConfig,
        tokenizer: &'a TextTokenizer,
        ids: &[u32],
    ) -> Self {
        let content = super::ferret::inner(ids).to_vec();
        Self {
            model,
            config,
            tokenizer,
            none_fixed: vec![false; content.len()],
            content,
        }
    }

    /// The re-tokenised input (token and type ids) that keeps the marked units.
    fn input(&self, keep: &[bool]) -> Result<(Vec<u32>, Vec<u32>)> {
        let kept: Vec<u32> = self
            .content
            .iter()
            .zip(keep)
            .filter(|(_, &k)| k)
            .map(|(&id, _)| id)
            .collect();
        self.tokenizer.ids(&self.tokenizer.decode(&kept)?)
    }

    /// Probabilities as ferret reads them: a float32 softmax, whose rounding near 0 and 1 makes
    /// leave-one-out importances tie exactly where ferret's do (τ-b counts ties).
    fn run(&self, inputs: &[(Vec<u32>, Vec<u32>)]) -> Result<Vec<Vec<f64>>> {
        let mut out = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(rows_per_pass(self.content.len() + 2)) {
            let (ids, types): (Vec<Vec<u32>>, Vec<Vec<u32>>) = chunk.iter().cloned().unzip();
            let input = text::batch_masked(self.config, &ids, &types, None, self.model.device())?;
            let logits = self
                .model
                .logits(&ModelInput::Text(input))?
                .to_dtype(DType::F32)?
                .to_vec2::<f32>()?;
            out.extend(logits.iter().map(|l| softmax_f32(l)));
        }
        Ok(out)
    }
}

impl Predictor for Retokenized<'_> {
    fn len(&self) -> usize {
        self.content.len()
    }

    fn fixed(&self) -> &[bool] {
        &self.none_fixed
    }

    /// Deduplicated by the re-tokenised text, not the mask: removing either copy of a repeated
    /// token gives one input, and ferret's leave-one-out importances tie exactly there.
    fn probs(&self, keeps: &[Vec<bool>]) -> Result<Vec<Vec<f64>>> {
        let inputs: Vec<(Vec<u32>, Vec<u32>)> =
            keeps.iter().map(|k| self.input(k)).collect::<Result<_>>()?;
        // One length for all: ferret's batches stay as they were, since its ties are exact
        // float32 ties that a different batch could round apart.
        distinct_in_parallel(
            self.model.runtime(),
            &inputs,
            |_| 0,
            |chunk| self.run(chunk),
        )
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
        distinct_in_parallel(
            self.model.runtime(),
            keeps,
            |k| self.kept_len(k),
            |chunk| self.run(chunk),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::load_model;
    use candle_core::Device;

    /// Batching deleted texts longest first, each pass padded to its own longest row, gives every
    /// row the probabilities it has alone: 300 distinct masks of a 40-token text, so several
    /// passes of different widths, against one forward pass per mask.
    #[test]
    fn batched_deletions_match_one_pass_per_mask() -> Result<()> {
        let dir = format!("{}/tests/fixtures/bert", env!("CARGO_MANIFEST_DIR"));
        let m = load_model(&dir, DType::F32, &Device::Cpu)?;
        let n = 40;
        let ids: Vec<u32> = (0..n as u32).map(|i| 5 + (i * 37) % 390).collect();
        let special: Vec<bool> = (0..n).map(|i| i == 0 || i == n - 1).collect();
        let keeps: Vec<Vec<bool>> = (0..300u64)
            .map(|r| {
                let h = crate::eval::fnv1a(0xcbf2_9ce4_8422_2325, r.to_le_bytes());
                // Between 2 and 40 tokens kept: rows of very different lengths.
                let kept = 2 + (h % 39) as usize;
                (0..n)
                    .map(|i| special[i] || (i as u64 * 7919 + h) % (n as u64) < kept as u64)
                    .collect()
            })
            .collect();
        let predictor = TextPredictor {
            model: m.model.as_ref(),
            config: &m.config,
            ids,
            type_ids: vec![0; n],
            special,
            removal: Removal::Delete,
        };
        let batched = predictor.probs(&keeps)?;
        assert_eq!(batched.len(), keeps.len());
        for (keep, got) in keeps.iter().zip(&batched) {
            let alone = predictor.run(std::slice::from_ref(keep))?;
            for (a, b) in got.iter().zip(&alone[0]) {
                assert!((a - b).abs() < 1e-5, "batched {a} alone {b}");
            }
        }
        Ok(())
    }
}
