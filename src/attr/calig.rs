//! CA-LIG, Context-Aware Layer-wise Integrated Gradients (docs/calig.md has the equations and
//! the reasons for each choice):
//! 1. r^(l) = LIG at h^(l), l = 1..L, signed, from one batched suffix-only computation;
//! 2. a^(l) = Ā^(l) read at [CLS], Ā^(l) = mean_k (∇A^(l,k) ⊙ A^(l,k))^+ at the input or
//!    integrated along the path entering block l;
//! 3. s^(l) = r^(l) · (λ + (1 − λ) â^(l)), â^(l) = a^(l) / max_t a^(l)_t;
//! 4. final = Σ_l R^(l→L) s^(l) (rollout: v ← v + Ā^(k) v for k = l+1..L, Ā at the input) or
//!    Σ_l s^(l).

use super::attention::readout;
use super::gae::relevance_maps;
use super::layer_ig::{by_layer, layer_paths};
use super::{Aggregation, AttentionMode, Attribution, Delta, Params, Scores, Subject};
use crate::error::{CaligError, Result};
use candle_core::Tensor;

/// â = a / max(a); all zeros when nothing is positive.
pub fn normalise(a: &[f64]) -> Vec<f64> {
    let max = a.iter().cloned().fold(0.0, f64::max);
    if max > 0.0 {
        a.iter().map(|v| v / max).collect()
    } else {
        vec![0.0; a.len()]
    }
}

/// s = r · (λ + (1 − λ) â): keeps the sign of r, scales its magnitude by attention relevance.
pub fn fuse(r: &[f64], a_hat: &[f64], lambda: f64) -> Vec<f64> {
    r.iter()
        .zip(a_hat)
        .map(|(r, a)| r * (lambda + (1.0 - lambda) * a))
        .collect()
}

/// v ← v + Ā v for each map in order.
fn propagate(v: &[f64], maps: &[Vec<Vec<f64>>]) -> Vec<f64> {
    let mut v = v.to_vec();
    for m in maps {
        let mv: Vec<f64> = m
            .iter()
            .map(|row| row.iter().zip(&v).map(|(a, b)| a * b).sum())
            .collect();
        v.iter_mut().zip(mv).for_each(|(x, y)| *x += y);
    }
    v
}

fn to_matrix(t: &Tensor) -> Result<Vec<Vec<f64>>> {
    Ok(t.to_dtype(candle_core::DType::F64)?.to_vec2()?)
}

pub fn run(subject: &Subject, params: &Params) -> Result<Attribution> {
    let num_layers = subject.model.num_layers();
    let path_mode = params.attention_mode == AttentionMode::Path;
    // Path mode needs the path of h^(l-1) to read block l's attention, so it adds layer 0.
    let layers: Vec<usize> = if path_mode {
        (0..=num_layers).collect()
    } else {
        (1..=num_layers).collect()
    };
    let lig = layer_paths(subject, params, &layers, path_mode)?;
    // Ā^(l) at the input drives the rollout (DESIGN §3 step 4, as in GAE); the path mode only
    // changes where a^(l) is read.
    let maps = relevance_maps(subject)?;
    let matrices: Vec<Vec<Vec<f64>>> = maps.iter().map(to_matrix).collect::<Result<_>>()?;
    let a_maps: Vec<Tensor> = if path_mode {
        lig.path_attention
            .iter()
            .map(|m| {
                m.clone()
                    .ok_or_else(|| CaligError::Unsupported("missing path attention".into()))
            })
            .collect::<Result<_>>()?
    } else {
        maps
    };
    let offset = layers[0]; // index of layer l in lig.scores is l - offset
    let mut r_parts = Vec::new();
    let mut a_parts = Vec::new();
    let mut s_parts = Vec::new();
    let mut total: Option<Vec<f64>> = None;
    for l in 1..=num_layers {
        let r = &lig.scores[l - offset];
        let a = readout(subject, &a_maps[l - 1])?;
        let s = fuse(r, &normalise(&a), params.lambda);
        let contribution = match params.aggregation {
            Aggregation::Rollout => propagate(&s, &matrices[l..]),
            Aggregation::Sum => s.clone(),
        };
        total = Some(match total {
            None => contribution,
            Some(t) => t.iter().zip(&contribution).map(|(x, y)| x + y).collect(),
        });
        r_parts.push(r.clone());
        a_parts.push(a);
        s_parts.push(s);
    }
    let total = total.ok_or_else(|| CaligError::Unsupported("the model has no blocks".into()))?;
    let fused_layers: Vec<usize> = (1..=num_layers).collect();
    let details = serde_json::json!({
        "layers_index": "layer l at index l; index 0 (h^(0)) has no attention block and is null",
        "r": by_layer(num_layers, &layers, &lig.scores),
        "a": by_layer(num_layers, &fused_layers, &a_parts),
        "s": by_layer(num_layers, &fused_layers, &s_parts),
    });
    Ok(Attribution {
        scores: Scores::Tokens(total),
        layers: Some(by_layer(num_layers, &fused_layers, &s_parts)),
        delta: Delta::PerLayer(by_layer(num_layers, &layers, &lig.deltas)),
        details: Some(details),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusion_keeps_sign_and_lambda_one_is_identity() {
        let r = [1.0, -2.0, 0.5];
        let a = normalise(&[0.2, 0.4, 0.0]);
        assert_eq!(a, vec![0.5, 1.0, 0.0]);
        assert_eq!(fuse(&r, &a, 1.0), r.to_vec());
        assert_eq!(fuse(&r, &a, 0.0), vec![0.5, -2.0, 0.0]);
        assert_eq!(normalise(&[0.0, 0.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn propagation_applies_i_plus_a() {
        let m = vec![vec![vec![0.0, 1.0], vec![0.0, 0.0]]];
        assert_eq!(propagate(&[1.0, 2.0], &m), vec![3.0, 2.0]);
        assert_eq!(propagate(&[1.0, 2.0], &[]), vec![1.0, 2.0]);
    }
}
