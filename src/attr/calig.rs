//! CA-LIG, Context-Aware Layer-wise Integrated Gradients (docs/calig.md has the equations and
//! the reasons for each choice):
//! 1. r^(l) = LIG at h^(l), l = 1..L, signed, from one batched suffix-only computation;
//! 2. a^(l) = Ā^(l) read at \[CLS\], Ā^(l) = mean_k (∇A^(l,k) ⊙ A^(l,k))^+ at the input or
//!    integrated along the path entering block l (`attention_sign=signed`: without the ReLU);
//!    (`cls=spread`: \[CLS\]'s r^(l) is first handed to the other tokens in proportion to a^(l));
//! 3. s^(l) = r^(l) · (λ + (1 − λ) â^(l)), â^(l) = a^(l) / max_t a^(l)_t (`fusion=mixed`:
//!    s = λ r̂ + (1 − λ) â sign(r));
//! 4. final = Σ_l R^(l→L) s^(l) (rollout: v ← v + Ā^(k) v for k = l+1..L, Ā at the input),
//!    Σ_l s^(l) (sum), or Σ_l (M^(1)ᵀ ⋯ M^(l)ᵀ) s^(l) (backward, to the input positions).
//!
//! The expensive parts (the LIG paths and the attention maps) are [`Components`], computed once
//! and fused by [`fuse`] for any λ, fusion, aggregation and propagation, so ablations share them.

use super::attribution::by_layer;
use super::gae::relevance_maps_with_signed;
use super::path::layers::{layer_paths, LayerPaths};
use super::{
    Aggregation, AttentionMode, AttentionSign, Attribution, Cls, Delta, Fusion, Heads,
    LayerRelevance, Params, Propagation, Scores, Specials, Subject,
};
use crate::error::{CaligError, Result};
use candle_core::Tensor;
use super::memo::Memo;
use super::{settings, MethodInfo};

type Matrix = Vec<Vec<f64>>;

/// â = a / max(a); all zeros when nothing is positive.
pub fn normalise(a: &[f64]) -> Vec<f64> {
    let max = a.iter().cloned().fold(0.0, f64::max);
    if max > 0.0 {
        a.iter().map(|v| v / max).collect()
    } else {
        vec![0.0; a.len()]
    }
}

/// a / max |a| in [−1, 1]; all zeros when a is.
fn normalise_signed(a: &[f64]) -> Vec<f64> {
    let max = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if max > 0.0 {
        a.iter().map(|v| v / max).collect()
    } else {
        vec![0.0; a.len()]
    }
}

/// s = r · (λ + (1 − λ) â): keeps the sign of r, scales its magnitude by attention relevance.
pub fn fuse_scale(r: &[f64], a_hat: &[f64], lambda: f64) -> Vec<f64> {
    r.iter()
        .zip(a_hat)
        .map(|(r, a)| r * (lambda + (1.0 - lambda) * a))
        .collect()
}

/// s = λ r̂ + (1 − λ) â sign(r), r̂ = r / max |r|.
pub fn fuse_mixed(r: &[f64], a_hat: &[f64], lambda: f64) -> Vec<f64> {
    normalise_signed(r)
        .iter()
        .zip(r.iter().zip(a_hat))
        .map(|(rh, (r, a))| {
            lambda * rh + (1.0 - lambda) * a * r.signum() * f64::from(u8::from(*r != 0.0))
        })
        .collect()
}

/// r with the readout token's value (position `readout`: \[CLS\], a decoder's last token)
/// handed to the other tokens in proportion to their positive attention relevance a; unchanged
/// when no other token has any. Keeps Σ r.
pub fn spread_cls(r: &[f64], a: &[f64], readout: usize) -> Vec<f64> {
    let weight = |t: usize| {
        if t == readout {
            0.0
        } else {
            a.get(t).copied().unwrap_or(0.0).max(0.0)
        }
    };
    let total: f64 = (0..r.len()).map(weight).sum();
    if total <= 0.0 || readout >= r.len() {
        return r.to_vec();
    }
    r.iter()
        .enumerate()
        .map(|(t, v)| {
            if t == readout {
                0.0
            } else {
                v + r[readout] * weight(t) / total
            }
        })
        .collect()
}

/// v ← v + Ā v for each map in order.
fn propagate(v: &[f64], maps: &[Matrix]) -> Vec<f64> {
    let mut v = v.to_vec();
    for m in maps {
        let mv = mat_vec(m, &v);
        v.iter_mut().zip(mv).for_each(|(x, y)| *x += y);
    }
    v
}

fn mat_vec(m: &Matrix, v: &[f64]) -> Vec<f64> {
    m.iter()
        .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
        .collect()
}

/// v ← Mᵀ v: position i's value spread over the positions row i of M points at.
fn mat_t_vec(m: &Matrix, v: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; v.len()];
    for (row, vi) in m.iter().zip(v) {
        for (o, a) in out.iter_mut().zip(row) {
            *o += a * vi;
        }
    }
    out
}

/// 0.5·I + 0.5·rownorm(Ā): each row sums to 1 (a row of zeros keeps only the identity).
fn row_normalised(m: &Matrix) -> Matrix {
    m.iter()
        .enumerate()
        .map(|(i, row)| {
            let sum: f64 = row.iter().sum();
            row.iter()
                .enumerate()
                .map(|(j, a)| {
                    let share = if sum > 0.0 {
                        a / sum
                    } else {
                        f64::from(u8::from(i == j))
                    };
                    0.5 * share + 0.5 * f64::from(u8::from(i == j))
                })
                .collect()
        })
        .collect()
}

fn to_matrix(t: &Tensor) -> Result<Matrix> {
    Ok(t.to_dtype(candle_core::DType::F64)?.to_vec2()?)
}

/// What every CA-LIG variant with the same path settings shares: r^(l), the per-layer deltas,
/// a^(l) in both signs and the input-level maps Ā^(l).
#[derive(Debug, Clone)]
pub struct Components {
    /// r^(l) for l = 1..L (index l − 1), and layer 0 too in path mode (then index l).
    layers: Vec<usize>,
    r: Vec<Vec<f64>>,
    deltas: Vec<f64>,
    warning: Option<String>,
    completeness: Vec<(f64, f64)>,
    steps: Vec<usize>,
    /// a^(l) read off the maps (index l − 1): positive (input or path) and signed (input).
    a_positive: Vec<Vec<f64>>,
    a_signed: Vec<Vec<f64>>,
    /// a^(l) from the head-weighted maps (input mode).
    a_head_weighted: Vec<Vec<f64>>,
    /// Ā^(l) at the input (index l − 1), for propagation.
    maps: Vec<Matrix>,
}

impl Components {
    /// What the components depend on: the target and the path and attention settings; not λ,
    /// fusion, aggregation, propagation, attention_sign, specials, heads or cls, which only
    /// [`fuse`] reads.
    pub fn key(subject: &Subject, p: &Params) -> String {
        format!(
            "{}|{}|{:?}|{:?}|{}|{:?}|{}|{}|{}|{:?}|{:?}",
            subject.objective().key(),
            p.steps,
            p.tolerance,
            p.quadrature,
            p.baseline_spec().name(),
            p.reference_data,
            p.seed,
            p.max_batch,
            p.memory_mib,
            p.attention_mode,
            p.layer_relevance
        )
    }
}

/// CA-LIG with the components from `memo` when an earlier variant on this input computed them.
fn run_shared(subject: &Subject, params: &Params, memo: &mut Memo) -> Result<Attribution> {
    let key = format!("calig|{}", Components::key(subject, params));
    let c = memo.get_or_make(key, || components(subject, params))?;
    fuse(subject, c, params)
}

/// Runs the LIG paths and the attention-gradient pass (the costly part of CA-LIG).
pub fn components(subject: &Subject, params: &Params) -> Result<Components> {
    let num_layers = subject.model.num_layers();
    let path_mode = params.attention_mode == AttentionMode::Path;
    // Path mode needs the path of h^(l-1) to read block l's attention, so it adds layer 0.
    let layers: Vec<usize> = if path_mode {
        (0..=num_layers).collect()
    } else {
        (1..=num_layers).collect()
    };
    let lig = match params.layer_relevance {
        LayerRelevance::Lig => layer_paths(subject, params, &layers, path_mode)?,
        LayerRelevance::Attnlrp => attnlrp_layers(subject, &layers)?,
    };
    // Ā^(l) at the input drives the propagation (DESIGN §3 step 4, as in GAE); the path mode
    // only changes where a^(l) is read.
    let rm = relevance_maps_with_signed(subject)?;
    let (positive, signed) = (rm.positive, rm.signed);
    let maps: Vec<Matrix> = positive.iter().map(to_matrix).collect::<Result<_>>()?;
    let a_maps: Vec<Tensor> = if path_mode {
        lig.path_attention
            .iter()
            .map(|m| {
                m.clone()
                    .ok_or_else(|| CaligError::Unsupported("missing path attention".into()))
            })
            .collect::<Result<_>>()?
    } else {
        positive
    };
    if num_layers == 0 {
        return Err(CaligError::Unsupported("the model has no blocks".into()));
    }
    Ok(Components {
        r: lig.scores,
        deltas: lig.deltas,
        warning: lig.warning,
        completeness: lig.completeness,
        steps: lig.steps,
        layers,
        a_positive: a_maps
            .iter()
            .map(|m| subject.readout(m))
            .collect::<Result<_>>()?,
        a_head_weighted: rm
            .head_weighted
            .iter()
            .map(|m| subject.readout(m))
            .collect::<Result<_>>()?,
        a_signed: signed
            .iter()
            .map(|m| subject.readout(m))
            .collect::<Result<_>>()?,
        maps,
    })
}

/// r^(l) as AttnLRP relevance at h^(l) (one backward pass); the "delta" of each layer is
/// Σ r^(l) − y_c, AttnLRP's conservation gap.
fn attnlrp_layers(subject: &Subject, layers: &[usize]) -> Result<LayerPaths> {
    let r = super::attnlrp::relevance(subject)?;
    let scores = layers
        .iter()
        .map(|&l| super::subject::token_sums(&r.hidden[l]))
        .collect::<Result<Vec<_>>>()?;
    let deltas = scores
        .iter()
        .map(|s| s.iter().sum::<f64>() - r.logit)
        .collect();
    Ok(LayerPaths {
        layers: layers.to_vec(),
        scores,
        deltas,
        warning: None,
        completeness: Vec::new(),
        steps: Vec::new(),
        path_attention: vec![None; layers.len()],
    })
}

/// Fuses shared components into the CA-LIG attribution that `params` asks for.
pub fn fuse(subject: &Subject, c: &Components, params: &Params) -> Result<Attribution> {
    let num_layers = c.maps.len();
    let offset = c.layers[0]; // index of layer l in c.r is l - offset
    let drop = params.specials == Specials::Drop;
    let special = |t: usize| drop && subject.special.get(t).copied().unwrap_or(false);
    let maps: Vec<Matrix> = c
        .maps
        .iter()
        .map(|m| {
            let m: Matrix = m
                .iter()
                .map(|row| {
                    row.iter()
                        .enumerate()
                        .map(|(j, a)| if special(j) { 0.0 } else { *a })
                        .collect()
                })
                .collect();
            match params.propagation {
                Propagation::Gae => m,
                Propagation::Rownorm => row_normalised(&m),
            }
        })
        .collect();
    let step = |v: &[f64], m: &Matrix, transpose: bool| -> Vec<f64> {
        match (params.propagation, transpose) {
            (Propagation::Gae, false) => propagate(v, std::slice::from_ref(m)),
            (Propagation::Gae, true) => {
                let mv = mat_t_vec(m, v);
                v.iter().zip(mv).map(|(x, y)| x + y).collect()
            }
            (Propagation::Rownorm, false) => mat_vec(m, v),
            (Propagation::Rownorm, true) => mat_t_vec(m, v),
        }
    };
    let (mut a_parts, mut s_parts) = (Vec::new(), Vec::new());
    let mut total = vec![0.0; c.r[0].len()];
    for l in 1..=num_layers {
        let spread;
        let r = match params.cls {
            Cls::Keep => &c.r[l - offset],
            Cls::Spread => {
                spread = spread_cls(
                    &c.r[l - offset],
                    &c.a_positive[l - 1],
                    subject.readout_token()?,
                );
                &spread
            }
        };
        let a: Vec<f64> = match params.attention_sign {
            AttentionSign::Positive if params.heads == Heads::Weighted => &c.a_head_weighted[l - 1],
            AttentionSign::Positive => &c.a_positive[l - 1],
            AttentionSign::Signed => &c.a_signed[l - 1],
        }
        .iter()
        .enumerate()
        .map(|(t, v)| if special(t) { 0.0 } else { *v })
        .collect();
        let a_hat = match params.attention_sign {
            AttentionSign::Positive => normalise(&a),
            AttentionSign::Signed => normalise_signed(&a),
        };
        let s = match params.fusion {
            Fusion::Scale => fuse_scale(r, &a_hat, params.lambda),
            Fusion::Mixed => fuse_mixed(r, &a_hat, params.lambda),
        };
        let contribution = match params.aggregation {
            Aggregation::Rollout => maps[l..].iter().fold(s.clone(), |v, m| step(&v, m, false)),
            Aggregation::Sum => s.clone(),
            // Block l's map carries h^(l) positions to h^(l-1): apply blocks l, l-1, …, 1.
            Aggregation::Backward => maps[..l]
                .iter()
                .rev()
                .fold(s.clone(), |v, m| step(&v, m, true)),
        };
        total
            .iter_mut()
            .zip(&contribution)
            .for_each(|(t, x)| *t += x);
        a_parts.push(a);
        s_parts.push(s);
    }
    let fused_layers: Vec<usize> = (1..=num_layers).collect();
    let details = serde_json::json!({
        "layers_index": "layer l at index l; index 0 (h^(0)) has no attention block and is null",
        "r": by_layer(num_layers, &c.layers, &c.r),
        "a": by_layer(num_layers, &fused_layers, &a_parts),
        "s": by_layer(num_layers, &fused_layers, &s_parts),
    });
    Ok(Attribution {
        scores: Scores::Tokens(total),
        layers: Some(by_layer(num_layers, &fused_layers, &s_parts)),
        delta: Delta::PerLayer(by_layer(num_layers, &c.layers, &c.deltas)),
        details: Some(details),
        warnings: c.warning.iter().cloned().collect(),
        completeness: c.completeness.clone(),
        steps: c.steps.clone(),
        baseline_logit: None,
    })
}

pub const INFO: MethodInfo = MethodInfo::new(
    "calig",
    "Context-Aware Layer-wise Integrated Gradients (Mersha & Kalita 2026; docs/calig.md): layer IG in every block fused with class-specific attention gradients.",
    run,
)
.with_reference()
.integrating_path()
.reading(&[
        settings::PATH,
        &[
            "lambda",
            "attention_mode",
            "aggregation",
            "propagation",
            "attention_sign",
            "fusion",
            "specials",
            "heads",
            "layer_relevance",
            "cls",
        ],
    ])
.with_layers("s^(l): the fused CA-LIG relevance of each layer")
.sharing(run_shared);

pub fn run(subject: &Subject, params: &Params) -> Result<Attribution> {
    fuse(subject, &components(subject, params)?, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fusion_keeps_sign_and_lambda_one_is_identity() {
        let r = [1.0, -2.0, 0.5];
        let a = normalise(&[0.2, 0.4, 0.0]);
        assert_eq!(a, vec![0.5, 1.0, 0.0]);
        assert_eq!(fuse_scale(&r, &a, 1.0), r.to_vec());
        assert_eq!(fuse_scale(&r, &a, 0.0), vec![0.5, -2.0, 0.0]);
        assert_eq!(normalise(&[0.0, 0.0]), vec![0.0, 0.0]);
        assert_eq!(normalise_signed(&[0.5, -1.0]), vec![0.5, -1.0]);
    }

    #[test]
    fn cls_relevance_spreads_by_attention_and_keeps_the_total() {
        // r_CLS = 2 goes 1:3 to tokens 1 and 2 (token 3's negative a gets nothing).
        let s = spread_cls(&[2.0, 1.0, -1.0, 0.5], &[0.9, 0.25, 0.75, -0.2], 0);
        assert_eq!(s, vec![0.0, 1.5, 0.5, 0.5]);
        // Nothing positive outside [CLS]: r stays as it is.
        assert_eq!(spread_cls(&[2.0, 1.0], &[1.0, 0.0], 0), vec![2.0, 1.0]);
        // A decoder's readout is its last token.
        let d = spread_cls(&[1.0, -1.0, 2.0], &[0.25, 0.75, 0.5], 2);
        assert_eq!(d, vec![1.5, 0.5, 0.0]);
    }

    #[test]
    fn mixed_fusion_by_hand() {
        // r̂ = [0.5, −1, 0.25]; â = [0.5, 1, 0]; λ = 0.5:
        // s = [0.25 + 0.25, −0.5 − 0.5, 0.125 + 0] = [0.5, −1, 0.125].
        let s = fuse_mixed(&[1.0, -2.0, 0.5], &[0.5, 1.0, 0.0], 0.5);
        assert_eq!(s, vec![0.5, -1.0, 0.125]);
        // r = 0 gets no attention term (sign(0) = 0).
        assert_eq!(fuse_mixed(&[0.0, 1.0], &[1.0, 1.0], 0.0), vec![0.0, 1.0]);
    }

    #[test]
    fn propagation_applies_i_plus_a() {
        let m = vec![vec![vec![0.0, 1.0], vec![0.0, 0.0]]];
        assert_eq!(propagate(&[1.0, 2.0], &m), vec![3.0, 2.0]);
        assert_eq!(propagate(&[1.0, 2.0], &[]), vec![1.0, 2.0]);
        // Backward: position 0 attends to 1, so 0's value flows to 1.
        assert_eq!(mat_t_vec(&m[0], &[1.0, 2.0]), vec![0.0, 1.0]);
    }

    #[test]
    fn row_normalised_maps_conserve_backward_totals() {
        let m = vec![
            vec![0.0, 3.0, 1.0],
            vec![0.0, 0.0, 0.0],
            vec![2.0, 2.0, 0.0],
        ];
        let n = row_normalised(&m);
        for row in &n {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        assert_eq!(n[1], vec![0.0, 1.0, 0.0]);
        assert!((n[0][1] - 0.375).abs() < 1e-12 && (n[0][0] - 0.5).abs() < 1e-12);
        let v = [1.0, -2.0, 4.0];
        let back = mat_t_vec(&n, &v);
        assert!((back.iter().sum::<f64>() - 3.0).abs() < 1e-12);
    }
}
