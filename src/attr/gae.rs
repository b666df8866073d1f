//! Generic Attention-model Explainability (Chefer et al., ICCV 2021):
//! Ā^(l) = mean_k (∇A^(l,k) ⊙ A^(l,k))^+, R = I, R ← R + Ā^(l)·R for l = 1..L, read at [CLS].

use super::attention::readout;
use super::grads::attention_relevance;
use super::{Attribution, Scores, Subject};
use crate::error::Result;
use candle_core::Tensor;

/// Ā^(l) for every block at the real input, (s, s) each.
pub fn relevance_maps(subject: &Subject) -> Result<Vec<Tensor>> {
    Ok(relevance_maps_with_signed(subject)?.0)
}

/// Ā^(l) = mean_k (∇A ⊙ A)^+ and its signed twin mean_k (∇A ⊙ A), from one backward pass.
pub fn relevance_maps_with_signed(subject: &Subject) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
    let g = subject.input_gradients()?;
    let mut positive = Vec::new();
    let mut signed = Vec::new();
    for (a, da) in g.attentions.iter().zip(&g.attention_grads) {
        positive.push(attention_relevance(a, da)?);
        signed.push((da * a)?.mean(0)?);
    }
    Ok((positive, signed))
}

/// GAE's rule-6 accumulation over the given maps.
pub fn accumulate(maps: &[Tensor]) -> Result<Tensor> {
    let first = maps.first().ok_or_else(|| {
        crate::CaligError::Unsupported("the model has no attention blocks".into())
    })?;
    let s = first.dim(0)?;
    let mut r = Tensor::eye(s, first.dtype(), first.device())?;
    for a in maps {
        r = (&r + a.matmul(&r)?)?;
    }
    Ok(r)
}

pub fn run(subject: &Subject) -> Result<Attribution> {
    let maps = relevance_maps(subject)?;
    let r = accumulate(&maps)?;
    Ok(Attribution::scores_only(Scores::Tokens(readout(
        subject, &r,
    )?)))
}
