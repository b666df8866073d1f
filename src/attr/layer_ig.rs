//! Layer Integrated Gradients at every selected hidden state h^(l) (DESIGN §3 `lig`): the path
//! runs from the reference input's h^(l) to the input's h^(l), and only blocks l+1..L and the
//! head are re-run; all layers share chunked forward/backward passes (see path.rs).

use super::auto_steps;
use super::path::{integrate, logit_at, Path, PathOptions, Space};
use super::{to_vec, token_sums, Attribution, Delta, Params, Scores, Subject};
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

/// LIG along the paths at `layers`. Under `--steps auto` (`params.tolerance`) every path starts
/// at [`auto_steps::FIRST_STEPS`] and only the paths whose completeness delta is still above
/// the tolerance are integrated again, with the count auto_steps.rs predicts, so cheap deep
/// paths that converge early are not recomputed with the slow shallow ones.
pub fn layer_paths(
    subject: &Subject,
    params: &Params,
    layers: &[usize],
    attention: bool,
) -> Result<LayerPaths> {
    let model = subject.model;
    let bias = subject.mask_bias.as_ref();
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
                bias,
                subject.target,
                path.space,
                &path.baseline,
            )?;
            Ok(y - y_base)
        })
        .collect::<Result<Vec<f64>>>()?;
    let first = match params.tolerance {
        Some(_) => auto_steps::FIRST_STEPS,
        None => params.steps,
    };
    let mut steps = vec![first; paths.len()];
    let mut tries: Vec<Vec<auto_steps::Try>> = vec![Vec::new(); paths.len()];
    let mut scores = vec![Vec::new(); paths.len()];
    let mut deltas = vec![0.0; paths.len()];
    let mut path_attention = vec![None; model.num_layers()];
    let mut todo: Vec<usize> = (0..paths.len()).collect();
    while !todo.is_empty() {
        // One integration per step count: the paths that need the same count share it.
        let mut counts: Vec<usize> = todo.iter().map(|&i| steps[i]).collect();
        counts.sort_unstable();
        counts.dedup();
        for n in counts {
            let group: Vec<usize> = todo.iter().copied().filter(|&i| steps[i] == n).collect();
            let rule = params
                .quadrature
                .rule(n)
                .map_err(CaligError::InvalidInput)?;
            let group_paths: Vec<Path> = group.iter().map(|&i| paths[i].clone()).collect();
            let out = integrate(
                model,
                &subject.input,
                bias,
                subject.target,
                &group_paths,
                &PathOptions {
                    rule: &rule,
                    engine: model.runtime().engine,
                    max_batch: params.chunk_rows(subject),
                    attention,
                },
            )?;
            for (&i, attr) in group.iter().zip(&out.attributions) {
                deltas[i] = to_vec(attr)?.iter().sum::<f64>() - differences[i];
                scores[i] = token_sums(attr)?;
                tries[i].push(auto_steps::Try {
                    steps: n,
                    share: auto_steps::share(deltas[i], differences[i]),
                });
                if let Space::Hidden(l) = paths[i].space {
                    if let Some(Some(a)) = out.path_attention.get(l) {
                        path_attention[l] = Some(a.clone());
                    }
                }
            }
        }
        let Some(tolerance) = params.tolerance else {
            break;
        };
        todo.retain(|&i| match auto_steps::next_steps(&tries[i], tolerance) {
            Some(n) => {
                steps[i] = n;
                true
            }
            None => false,
        });
    }
    let pairs: Vec<(f64, f64)> = deltas.iter().copied().zip(differences).collect();
    let mut warning = super::delta_warning(&pairs, params);
    if let Some(tolerance) = params.tolerance {
        warning = warning.or_else(|| super::auto_steps_warning(&pairs, tolerance));
    }
    Ok(LayerPaths {
        layers: layers.to_vec(),
        scores,
        deltas,
        warning,
        completeness: pairs,
        steps,
        path_attention,
    })
}

/// Places per-layer values at their layer index in a 0..=L vector.
pub(crate) fn by_layer<T: Clone>(
    num_layers: usize,
    layers: &[usize],
    values: &[T],
) -> Vec<Option<T>> {
    let mut out = vec![None; num_layers + 1];
    for (&l, v) in layers.iter().zip(values) {
        out[l] = Some(v.clone());
    }
    out
}

pub fn run(subject: &Subject, params: &Params) -> Result<Attribution> {
    let num_layers = subject.model.num_layers();
    let layers = params.layers.resolve(num_layers)?;
    let r = layer_paths(subject, params, &layers, false)?;
    Ok(Attribution {
        // The lowest selected layer is the headline map (layer 0: Captum LIG on the embeddings).
        scores: Scores::Tokens(r.scores[0].clone()),
        delta: Delta::PerLayer(by_layer(num_layers, &layers, &r.deltas)),
        layers: Some(by_layer(num_layers, &layers, &r.scores)),
        details: None,
        warnings: r.warning.into_iter().collect(),
        completeness: r.completeness,
        steps: r.steps,
    })
}
