//! One forward/backward pass at the real input: ∂y_c/∂E and ∂y_c/∂A^(l) for every block.

use crate::error::{CaligError, Result};
use crate::model::{Encoder, ModelInput};
use candle_core::{IndexOp, Tensor, Var};

pub struct InputGradients {
    /// The attributed input (1, s, d) or pixels (1, c, h, w), and ∂y_c/∂ of it.
    pub input: Tensor,
    pub input_grad: Tensor,
    /// Per block: attention probabilities (heads, s, s) and ∂y_c/∂A (heads, s, s).
    pub attentions: Vec<Tensor>,
    pub attention_grads: Vec<Tensor>,
}

pub fn at_input(
    model: &dyn Encoder,
    input: &ModelInput,
    mask_bias: Option<&Tensor>,
    objective: super::Objective,
) -> Result<InputGradients> {
    let e = model.input_embeddings(input)?;
    let ev = Var::from_tensor(&e)?;
    let h0 = model.embed(input, ev.as_tensor())?;
    let (s, heads) = (h0.dim(1)?, model.config().num_heads);
    let probes: Vec<Var> = (0..model.num_layers())
        .map(|_| Var::zeros((1, heads, s, s), model.dtype(), h0.device()))
        .collect::<candle_core::Result<_>>()?;
    let probe_ts: Vec<Tensor> = probes.iter().map(|p| p.as_tensor().clone()).collect();
    let out = model.blocks(&h0, mask_bias, 0, &probe_ts)?;
    let last = out.hidden.last().cloned().unwrap_or(h0);
    let logits = model.head(&last)?;
    let grads = objective.of_logits(&logits)?.i(0)?.backward()?;
    let cut = |what: &str| {
        CaligError::Unsupported(format!(
            "no gradient reached {what}: an op without backward is on the graph"
        ))
    };
    let input_grad = grads
        .get(ev.as_tensor())
        .ok_or_else(|| cut("the input"))?
        .clone();
    let attention_grads = probes
        .iter()
        .map(|p| {
            Ok(grads
                .get(p.as_tensor())
                .ok_or_else(|| cut("an attention map"))?
                .squeeze(0)?)
        })
        .collect::<Result<Vec<_>>>()?;
    let attentions = out
        .attentions
        .iter()
        .map(|a| Ok(a.detach().squeeze(0)?))
        .collect::<Result<Vec<_>>>()?;
    Ok(InputGradients {
        input: e,
        input_grad,
        attentions,
        attention_grads,
    })
}

/// Chefer's class-specific head-mean relevance of one block: mean_k (∇A ⊙ A)^+, (s, s).
pub fn attention_relevance(attention: &Tensor, grad: &Tensor) -> Result<Tensor> {
    Ok((grad * attention)?.relu()?.mean(0)?)
}
