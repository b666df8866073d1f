//! The paths of the layer methods (lig, CA-LIG): at each selected hidden state h^(l), from the
//! reference input's h^(l) to the input's h^(l), so only blocks l+1..L and the head re-run.

use super::auto::integrate_paths;
use super::{logit_at, Path, Space};
use crate::attr::params::Params;
use crate::attr::subject::{token_sums, Subject};
use crate::error::Result;
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
/// tolerance: [`integrate_paths`]).
pub fn layer_paths(
    subject: &Subject,
    params: &Params,
    layers: &[usize],
    attention: bool,
) -> Result<LayerPaths> {
    let model = subject.model;
    let at_input = model.forward(&subject.input)?.hidden_states;
    let at_baseline = match subject.baseline(params.baseline)?.input {
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
