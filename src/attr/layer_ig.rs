//! Layer Integrated Gradients at every selected hidden state h^(l) (DESIGN §3 `lig`): the path
//! runs from the reference input's h^(l) to the input's h^(l), and only blocks l+1..L and the
//! head are re-run; all layers share chunked forward/backward passes (see path.rs).

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
    pub path_attention: Vec<Option<Tensor>>,
}

pub fn layer_paths(
    subject: &Subject,
    params: &Params,
    layers: &[usize],
    attention: bool,
) -> Result<LayerPaths> {
    let model = subject.model;
    let rule = params
        .quadrature
        .rule(params.steps)
        .map_err(CaligError::InvalidInput)?;
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
    let out = integrate(
        model,
        &subject.input,
        bias,
        subject.target,
        &paths,
        &PathOptions {
            rule: &rule,
            engine: crate::engine::EngineChoice::from_env(),
            max_batch: params.chunk_rows(subject),
            attention,
        },
    )?;
    let y = subject.logit()?;
    let mut scores = Vec::with_capacity(layers.len());
    let mut deltas = Vec::with_capacity(layers.len());
    let mut pairs = Vec::with_capacity(layers.len());
    for (path, attr) in paths.iter().zip(&out.attributions) {
        let total: f64 = to_vec(attr)?.iter().sum();
        let y_base = logit_at(
            model,
            &subject.input,
            bias,
            subject.target,
            path.space,
            &path.baseline,
        )?;
        deltas.push(total - (y - y_base));
        pairs.push((total - (y - y_base), y - y_base));
        scores.push(token_sums(attr)?);
    }
    Ok(LayerPaths {
        layers: layers.to_vec(),
        scores,
        deltas,
        warning: super::delta_warning(&pairs, params),
        path_attention: out.path_attention,
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
    })
}
