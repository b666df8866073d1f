//! Chefer, Gur & Wolf (CVPR 2021), "Transformer Interpretability Beyond Attention
//! Visualization" ("transformer attribution"): for every block l,
//! Ā^(l) = I + mean_k (∇A^(l,k) ⊙ R_A^(l,k))^+, with R_A the LRP relevance of the attention
//! probabilities (model/relprop.rs) and ∇A the gradient of the target logit; C = Ā^(L)···Ā^(l₀)
//! from the start block l₀ (`start_layer`, default 1: every block, as the paper's equation and
//! their ViT code; their BERT code uses the last block only, `start_layer=L`); the \[CLS\] row of C
//! with C[CLS, CLS] set to 0. Text: Ā used as it is (their BERT code); images: each Ā row
//! normalised to sum 1 (their ViT code).
//!
//! `layers[l]` (l = 1..L): the \[CLS\] row of block l's mean_k (∇A ⊙ R_A)^+.

use super::attribution::by_layer;
use super::grads::attention_relevance;
use super::{Attribution, Params, Scores, Subject};
use crate::error::{CaligError, Result};
use candle_core::{Tensor, D};
use super::MethodInfo;

/// mean_k (∇A ⊙ R_A)^+ for every block, (s, s) each.
pub fn relevance_maps(subject: &Subject) -> Result<Vec<Tensor>> {
    let g = subject.input_gradients()?;
    let lrp =
        subject
            .model
            .lrp_relevance(&subject.input, subject.mask_bias.as_ref(), subject.target)?;
    g.attention_grads
        .iter()
        .zip(&lrp.attention)
        .map(|(grad, r)| attention_relevance(r, grad))
        .collect()
}

/// C = Ā^(L)···Ā^(start) with Ā = I + map (rows normalised when `row_normalise`).
pub fn rollout(maps: &[Tensor], start: usize, row_normalise: bool) -> Result<Tensor> {
    let s = maps[0].dim(0)?;
    let eye = Tensor::eye(s, maps[0].dtype(), maps[0].device())?;
    let mut joint: Option<Tensor> = None;
    for m in &maps[start..] {
        let mut a = (m + &eye)?;
        if row_normalise {
            a = a.broadcast_div(&a.sum_keepdim(D::Minus1)?)?;
        }
        joint = Some(match joint {
            None => a,
            Some(j) => a.matmul(&j)?,
        });
    }
    joint.ok_or_else(|| CaligError::Unsupported("the model has no attention blocks".into()))
}

pub const INFO: MethodInfo = MethodInfo::new(
    "chefer2021",
    "Chefer, Gur & Wolf (CVPR 2021): LRP attention relevance × gradient, rolled out.",
    run,
)
.unsigned()
.reading(&[&["start_layer"]])
.without_contrast();

pub fn run(subject: &Subject, params: &Params) -> Result<Attribution> {
    let num_layers = subject.model.num_layers();
    let first = super::gae::first_block(subject, params)?;
    let maps = relevance_maps(subject)?;
    let c = rollout(&maps, first, !subject.is_text())?;
    let mut scores = subject.readout(&c)?;
    scores[0] = 0.0;
    let per_block = maps
        .iter()
        .map(|m| subject.readout(m))
        .collect::<Result<Vec<_>>>()?;
    let blocks: Vec<usize> = (1..=num_layers).collect();
    Ok(Attribution {
        scores: Scores::Tokens(scores),
        layers: Some(by_layer(num_layers, &blocks, &per_block)),
        delta: super::Delta::None,
        details: None,
        warnings: Vec::new(),
        completeness: Vec::new(),
        steps: Vec::new(),
        baseline_logit: None,
    })
}
