//! The paths of the layer methods (lig, CA-LIG): at each selected hidden state h^(l), from the
//! reference input's h^(l) to the input's h^(l), so only blocks l+1..L and the head re-run.

use super::auto::integrate_paths;
use super::{logit_at, Path, Space};
use crate::attr::params::Params;
use crate::attr::reference;
use crate::attr::subject::{token_sums, Subject};
use crate::error::{CaligError, Result};
use candle_core::Tensor;

/// LIG of several layers: token scores and convergence deltas per requested layer, plus the
/// path-integrated attention relevance when asked for.
pub struct LayerPaths {
    pub layers: Vec<usize>,
    pub scores: Vec<Vec<f64>>,
    pub deltas: Vec<f64>,
    /// A warning when some layer's delta is large (see `delta_warning`).
    pub warning: Option<String>,
    /// (delta, y_c(x) − y_c(x′)) per path.
    pub completeness: Vec<(f64, f64)>,
    /// The steps each path was integrated with.
    pub steps: Vec<usize>,
    pub path_attention: Vec<Option<Tensor>>,
}

/// LIG along the paths at `layers` (with `--steps auto`, each path until it meets the
/// tolerance: [`integrate_paths`]). Under `expected:N`, the paths of each reference in turn
/// (each from that reference's hidden states h′^(l)), averaged: scores, deltas, logit
/// differences and path attention are the means over the references; `steps` lists every
/// path's, reference by reference.
pub fn layer_paths(
    subject: &Subject,
    params: &Params,
    layers: &[usize],
    attention: bool,
) -> Result<LayerPaths> {
    let model = subject.model;
    let at_input = model.forward(&subject.input)?.hidden_states;
    let references = reference::inputs(subject, params)?;
    let n = references.len() as f64;
    let mut sum: Option<LayerPaths> = None;
    for r in references {
        let one = one_reference(subject, params, layers, attention, &at_input, r.input)?;
        sum = Some(match sum {
            None => one,
            Some(acc) => add(acc, one)?,
        });
    }
    let sum = sum.ok_or_else(|| CaligError::Internal("no reference input".into()))?;
    if n == 1.0 {
        return Ok(sum);
    }
    let mean = |v: Vec<f64>| v.into_iter().map(|x| x / n).collect::<Vec<f64>>();
    let completeness: Vec<(f64, f64)> = sum
        .completeness
        .iter()
        .map(|(d, y)| (d / n, y / n))
        .collect();
    Ok(LayerPaths {
        warning: crate::attr::ig::average_warning(
            params,
            n as usize,
            &completeness,
            sum.warning.clone(),
        ),
        completeness,
        scores: sum.scores.into_iter().map(mean).collect(),
        deltas: mean(sum.deltas),
        path_attention: sum
            .path_attention
            .into_iter()
            .map(|a| a.map(|a| a / n).transpose())
            .collect::<candle_core::Result<_>>()?,
        ..sum
    })
}

/// The element-wise sum of two references' results (steps and warnings: both kept, the
/// first warning only).
fn add(a: LayerPaths, b: LayerPaths) -> Result<LayerPaths> {
    let plus = |x: Vec<f64>, y: Vec<f64>| x.iter().zip(&y).map(|(p, q)| p + q).collect();
    Ok(LayerPaths {
        layers: a.layers,
        scores: a
            .scores
            .into_iter()
            .zip(b.scores)
            .map(|(x, y)| plus(x, y))
            .collect(),
        deltas: plus(a.deltas, b.deltas),
        warning: a.warning.or(b.warning),
        completeness: a
            .completeness
            .iter()
            .zip(&b.completeness)
            .map(|(p, q)| (p.0 + q.0, p.1 + q.1))
            .collect(),
        steps: a.steps.into_iter().chain(b.steps).collect(),
        path_attention: a
            .path_attention
            .into_iter()
            .zip(b.path_attention)
            .map(|(x, y)| match (x, y) {
                (Some(x), Some(y)) => Ok(Some((x + y)?)),
                (x, y) => Ok(x.or(y)),
            })
            .collect::<Result<_>>()?,
    })
}

/// LIG at `layers` from one reference input's hidden states (the zero state when `reference`
/// is None: the `zero` baseline).
fn one_reference(
    subject: &Subject,
    params: &Params,
    layers: &[usize],
    attention: bool,
    at_input: &[Tensor],
    reference: Option<crate::model::ModelInput>,
) -> Result<LayerPaths> {
    let model = subject.model;
    let at_baseline = match reference {
        Some(reference) => model.forward(&reference)?.hidden_states,
        None => at_input
            .iter()
            .map(Tensor::zeros_like)
            .collect::<candle_core::Result<_>>()?,
    };
    let paths: Vec<Path> = layers
        .iter()
        .map(|&l| Path {
            space: Space::Hidden(l),
            baseline: at_baseline[l].clone(),
            input: at_input[l].clone(),
        })
        .collect();
    let y = subject.logit()?;
    let differences = paths
        .iter()
        .map(|path| {
            let y_base = logit_at(
                model,
                &subject.input,
                subject.mask_bias.as_ref(),
                subject.objective(),
                path.space,
                &path.baseline,
            )?;
            Ok(y - y_base)
        })
        .collect::<Result<Vec<f64>>>()?;
    let out = integrate_paths(subject, params, &paths, &differences, attention)?;
    Ok(LayerPaths {
        layers: layers.to_vec(),
        scores: out
            .attributions
            .iter()
            .map(token_sums)
            .collect::<Result<_>>()?,
        deltas: out.deltas,
        warning: out.warning,
        completeness: out.completeness,
        steps: out.steps,
        path_attention: out.path_attention,
    })
}
