//! Generic Attention-model Explainability (Chefer et al., ICCV 2021):
//! Ā^(l) = mean_k (∇A^(l,k) ⊙ A^(l,k))^+, R = I, R ← R + Ā^(l)·R for l = s..L, read at \[CLS\];
//! s = `start_layer` (default 1: every block; M⁴ sweeps it).

use super::grads::attention_relevance;
use super::{Attribution, Params, Scores, Subject};
use crate::error::Result;
use candle_core::Tensor;
use super::MethodInfo;

/// Ā^(l) for every block at the real input, (s, s) each.
pub fn relevance_maps(subject: &Subject) -> Result<Vec<Tensor>> {
    Ok(relevance_maps_with_signed(subject)?.positive)
}

/// The per-block maps that CA-LIG reads, from one backward pass at the input.
pub struct RelevanceMaps {
    /// Ā^(l) = mean_k (∇A ⊙ A)^+.
    pub positive: Vec<Tensor>,
    /// mean_k (∇A ⊙ A), without the ReLU.
    pub signed: Vec<Tensor>,
    /// Σ_k w_k (∇A_k ⊙ A_k)^+ with w_k each head's share of the block's total positive
    /// relevance (uniform when the block has none): heads that carry the class weigh more.
    pub head_weighted: Vec<Tensor>,
}

pub fn relevance_maps_with_signed(subject: &Subject) -> Result<RelevanceMaps> {
    let g = subject.input_gradients()?;
    let mut out = RelevanceMaps {
        positive: Vec::new(),
        signed: Vec::new(),
        head_weighted: Vec::new(),
    };
    for (a, da) in g.attentions.iter().zip(&g.attention_grads) {
        let per_head = (da * a)?.relu()?; // (heads, s, s)
        out.positive.push(attention_relevance(a, da)?);
        out.signed.push((da * a)?.mean(0)?);
        let heads = per_head.dim(0)?;
        let totals: Vec<f64> = super::subject::to_vec(&per_head.sum((1, 2))?)?;
        let sum: f64 = totals.iter().sum();
        let w: Vec<f64> = if sum > 0.0 {
            totals.iter().map(|t| t / sum).collect()
        } else {
            vec![1.0 / heads as f64; heads]
        };
        let w = Tensor::from_vec(w, (heads, 1, 1), a.device())?.to_dtype(a.dtype())?;
        out.head_weighted.push(per_head.broadcast_mul(&w)?.sum(0)?);
    }
    Ok(out)
}

/// GAE's rule-6 accumulation over the given maps.
pub fn accumulate(maps: &[Tensor]) -> Result<Tensor> {
    let first = maps.first().ok_or_else(|| {
        crate::error::CaligError::Unsupported("the model has no attention blocks".into())
    })?;
    let s = first.dim(0)?;
    let mut r = Tensor::eye(s, first.dtype(), first.device())?;
    for a in maps {
        r = (&r + a.matmul(&r)?)?;
    }
    Ok(r)
}

pub const INFO: MethodInfo = MethodInfo::new(
    "gae",
    "Generic Attention-model Explainability (Chefer et al., ICCV 2021).",
    run,
)
.unsigned()
.reading(&[&["start_layer"]]);

/// The index (0-based) of `start_layer`'s block, refused when the model has no such block.
pub(crate) fn first_block(subject: &Subject, params: &Params) -> Result<usize> {
    let num_layers = subject.model.num_layers();
    if !(1..=num_layers).contains(&params.start_layer) {
        return Err(crate::error::CaligError::InvalidInput(format!(
            "start_layer {} does not exist: the model has blocks 1..={num_layers}",
            params.start_layer
        )));
    }
    Ok(params.start_layer - 1)
}

pub fn run(subject: &Subject, params: &Params) -> Result<Attribution> {
    let first = first_block(subject, params)?;
    let maps = relevance_maps(subject)?;
    let r = accumulate(&maps[first..])?;
    Ok(Attribution::scores_only(Scores::Tokens(
        subject.readout(&r)?,
    )))
}
