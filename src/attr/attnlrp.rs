//! AttnLRP (Achtibat et al., ICML 2024): one forward and one backward pass under the AttnLRP
//! rules (model/rules.rs), so that modified gradient ⊙ input is LRP relevance. Scores: relevance
//! at the word embeddings (normalised pixels for ViT, summed over channels and pooled per
//! patch), summed over hidden; `layers[l]`: relevance at h^(l), summed over hidden.
//!
//! Conservation: the relevance at every h^(l) sums to the target logit up to what the biases,
//! the LayerNorm shifts and (at the input) the position and token-type embeddings absorb;
//! `details` reports each layer's total beside the logit.

use super::attribution::by_layer;
use super::subject::{patch_sums, to_vec, token_sums};
use super::{Attribution, Delta, Params, Scores, Subject};
use crate::error::{CaligError, Result};
use crate::model::Rules;
use candle_core::{IndexOp, Tensor, Var};
use super::{Completeness, MethodInfo};

/// Relevance products (modified gradient ⊙ value), before summing over hidden.
pub struct Relevance {
    /// At the attributed input: (1, s, d) for text, (1, c, h, w) for images.
    pub input: Tensor,
    /// At h^(0) .. h^(L), (1, s, d) each.
    pub hidden: Vec<Tensor>,
    /// The target logit.
    pub logit: f64,
}

/// One AttnLRP pass for the subject's target class.
pub fn relevance(subject: &Subject) -> Result<Relevance> {
    let model = subject.model;
    let rules = Rules::AttnLrp;
    let bias = subject.mask_bias.as_ref();
    let e = model.input_embeddings(&subject.input)?;
    let ev = Var::from_tensor(&e)?;
    // A zero Var added to each h^(l) receives ∂/∂h^(l) (candle keeps gradients of leaves only).
    let mut taps: Vec<Var> = Vec::with_capacity(model.num_layers() + 1);
    let mut values: Vec<Tensor> = Vec::with_capacity(model.num_layers() + 1);
    let mut tapped = |h: Tensor| -> Result<Tensor> {
        let tap = Var::zeros(h.shape(), h.dtype(), h.device())?;
        let out = (&h + tap.as_tensor())?;
        values.push(h.detach());
        taps.push(tap);
        Ok(out)
    };
    let mut h = tapped(model.embed_with(&subject.input, ev.as_tensor(), rules)?)?;
    for b in 0..model.num_layers() {
        let (next, _) = model.block_with(b, &h, bias, None, rules)?;
        h = tapped(next)?;
    }
    let logits = model.head_with(&h, rules)?;
    let y = subject.objective().of_logits(&logits)?.i(0)?;
    let logit = y.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
    let grads = y.backward()?;
    let cut = || {
        CaligError::Unsupported(
            "no relevance reached the input: an op without backward is on the graph".into(),
        )
    };
    let input = (grads.get(ev.as_tensor()).ok_or_else(cut)? * &e)?;
    let hidden = taps
        .iter()
        .zip(&values)
        .map(|(tap, v)| Ok((grads.get(tap.as_tensor()).ok_or_else(cut)? * v)?))
        .collect::<Result<Vec<_>>>()?;
    Ok(Relevance {
        input,
        hidden,
        logit,
    })
}

pub const INFO: MethodInfo = MethodInfo::new(
    "attnlrp",
    "AttnLRP (Achtibat et al., ICML 2024): LRP relevance in one backward pass.",
    run,
)
.reading(&[&["layers"]])
.with_layers("AttnLRP relevance at each h^(l)")
.conserving(Completeness::Logit);

pub fn run(subject: &Subject, params: &Params) -> Result<Attribution> {
    let num_layers = subject.model.num_layers();
    let layers = params.layers.resolve(num_layers)?;
    let r = relevance(subject)?;
    let scores = if subject.is_text() {
        Scores::Tokens(token_sums(&r.input)?)
    } else {
        Scores::Patches(patch_sums(
            &r.input.squeeze(0)?.sum(0)?,
            subject.patch_size,
        )?)
    };
    let per_layer = layers
        .iter()
        .map(|&l| token_sums(&r.hidden[l]))
        .collect::<Result<Vec<_>>>()?;
    let totals = r
        .hidden
        .iter()
        .map(|t| Ok(to_vec(t)?.iter().sum::<f64>()))
        .collect::<Result<Vec<f64>>>()?;
    let input_total: f64 = to_vec(&r.input)?.iter().sum();
    Ok(Attribution {
        scores,
        layers: Some(by_layer(num_layers, &layers, &per_layer)),
        // Captum's LRP convention: Σ relevance at the input − the target output.
        delta: Delta::Scalar(input_total - r.logit),
        details: Some(serde_json::json!({
            "conservation": {
                "target_logit": r.logit,
                "input_total": input_total,
                "layer_totals": totals,
            }
        })),
        warnings: Vec::new(),
        completeness: Vec::new(),
        steps: Vec::new(),
        baseline_logit: None,
    })
}
