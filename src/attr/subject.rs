//! The input prepared for attribution ([`Subject`]) and the ways a method's tensors become
//! per-token or per-patch scores.

use super::attribution::Scores;
use super::baseline::{self, Baseline, SpecialIds};
use super::grads;
use crate::error::Result;
use crate::model::{Encoder, ModelInput, Pooling};
use candle_core::{IndexOp, Tensor};

/// An input prepared for attribution: a batch of one, its target class, and what baselines need.
pub struct Subject<'a> {
    pub model: &'a dyn Encoder,
    pub input: ModelInput,
    pub mask_bias: Option<Tensor>,
    pub target: usize,
    /// What the target is contrasted with (`--contrast`), if anything.
    pub contrast: Option<super::Contrast>,
    /// Text: which tokens are special (\[CLS\], \[SEP\], `<s>`, `</s>`); images: empty.
    pub special: Vec<bool>,
    pub special_ids: Option<SpecialIds>,
    /// Images: the normalised value of black per channel, and the patch size (blur σ).
    pub black: Vec<f64>,
    pub patch_size: usize,
    /// Logits at the real input (computed once, when the subject is prepared).
    pub logits: Vec<f64>,
    /// The `neutral` reference of this input and its entropy ratio, found on first use
    /// ([`super::reference::neutral`]); it does not depend on the target. Leave it empty.
    pub neutral: std::sync::OnceLock<(Baseline, f64)>,
    /// The loaded model (tokenizer, image processor), which `expected:N` reads its references
    /// with; None where the subject was built from a bare encoder.
    pub loaded: Option<&'a crate::model::LoadedModel>,
}

impl Subject<'_> {
    pub fn is_text(&self) -> bool {
        matches!(self.input, ModelInput::Text(_))
    }

    /// The scalar the methods explain: y_target, or its contrast.
    pub fn objective(&self) -> super::Objective {
        super::Objective {
            class: self.target,
            contrast: self.contrast,
        }
    }

    pub fn baseline(&self, baseline: Baseline) -> Result<baseline::ResolvedBaseline> {
        let baseline = match baseline {
            Baseline::Neutral => self.neutral_reference()?.0,
            other => other,
        };
        baseline::resolve(
            self.model,
            &self.input,
            baseline,
            &self.special,
            self.special_ids,
            &self.black,
            self.patch_size as f64,
        )
    }

    /// Tokens the blocks see (ViT: patches + \[CLS\]).
    pub fn seq_len(&self) -> usize {
        match &self.input {
            ModelInput::Text(t) => t.input_ids.dims().get(1).copied().unwrap_or(0),
            ModelInput::Image(_) => self
                .model
                .config()
                .image
                .as_ref()
                .map_or(1, |i| i.grid() * i.grid() + 1),
        }
    }

    /// The reference `neutral` stands for, with its entropy ratio: searched once per subject
    /// (one forward pass per candidate), however many methods and checks ask.
    pub fn neutral_reference(&self) -> Result<(Baseline, f64)> {
        if let Some(found) = self.neutral.get() {
            return Ok(*found);
        }
        let found = super::reference::neutral(self)?;
        Ok(*self.neutral.get_or_init(|| found))
    }

    /// One forward/backward pass at the real input (grads.rs).
    pub fn input_gradients(&self) -> Result<grads::InputGradients> {
        grads::at_input(
            self.model,
            &self.input,
            self.mask_bias.as_ref(),
            self.objective(),
        )
    }

    /// Scores of an attribution in the attributed input space: per token, the sum over the
    /// hidden dimension (text); per patch, the sum over channels and the patch's pixels (images).
    pub fn scores_of(&self, attribution: &Tensor) -> Result<Scores> {
        Ok(if self.is_text() {
            Scores::Tokens(token_sums(attribution)?)
        } else {
            Scores::Patches(patch_sums(
                &attribution.squeeze(0)?.sum(0)?,
                self.patch_size,
            )?)
        })
    }

    /// A token-relevance vector read off an (s, s) map: the row of the token the head reads
    /// (\[CLS\]; a decoder's last token), or for mean pooling the mean of the rows it averages
    /// (what the pooled representation attends to): the patch rows of a ViT, every row of a
    /// text (ModernBERT's `classifier_pooling = "mean"`, one unpadded text).
    pub fn readout(&self, m: &Tensor) -> Result<Vec<f64>> {
        let s = m.dim(0)?;
        let row = match self.model.config().pooling {
            Pooling::Mean if self.is_text() => m.mean(0)?,
            Pooling::Mean => m.narrow(0, 1, s - 1)?.mean(0)?,
            Pooling::Cls => m.i(self.model.readout_token(s))?,
        };
        to_vec(&row)
    }

    /// The token the head reads (see [`crate::model::Encoder::readout_token`]).
    pub fn readout_token(&self) -> Result<usize> {
        let s = match &self.input {
            ModelInput::Text(t) => t.input_ids.dim(1)?,
            ModelInput::Image(_) => return Ok(0),
        };
        Ok(self.model.readout_token(s))
    }

    /// The objective (y_c, or its contrast) at the real input.
    pub fn logit(&self) -> Result<f64> {
        self.objective().value(&self.logits)
    }
}

/// Flattens a tensor to f64 values.
pub(crate) fn to_vec(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.to_dtype(candle_core::DType::F64)?
        .flatten_all()?
        .to_vec1()?)
}

/// Token scores of a (1, s, d) attribution: the sum over the hidden dimension.
pub(crate) fn token_sums(attr: &Tensor) -> Result<Vec<f64>> {
    to_vec(&attr.squeeze(0)?.sum(1)?)
}

/// Patch scores of a per-pixel map (h, w): sums over each patch, row-major.
pub(crate) fn patch_sums(pixel_map: &Tensor, patch: usize) -> Result<Vec<f64>> {
    let (h, w) = pixel_map.dims2()?;
    let values = to_vec(pixel_map)?;
    let (gh, gw) = (h / patch, w / patch);
    let mut out = vec![0.0; gh * gw];
    for y in 0..h {
        for x in 0..w {
            out[(y / patch) * gw + x / patch] += values[y * w + x];
        }
    }
    Ok(out)
}
