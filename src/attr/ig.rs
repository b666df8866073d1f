//! Integrated Gradients in the attributed input space (DESIGN §3 `ig`): the word-embedding
//! output for text (Captum LayerIntegratedGradients on `embeddings.word_embeddings`), the
//! normalised pixels for images (summed over channels, pooled per patch).

use super::path::{integrate, logit_at, Path, PathOptions, Space};
use super::{patch_sums, to_vec, token_sums, Attribution, Delta, Params, Scores, Subject};
use crate::error::Result;

pub fn run(subject: &Subject, params: &Params) -> Result<Attribution> {
    let model = subject.model;
    let rule = params
        .quadrature
        .rule(params.steps)
        .map_err(crate::CaligError::InvalidInput)?;
    let baseline = subject.baseline(params.baseline)?.input_embeddings;
    let input = model.input_embeddings(&subject.input)?;
    let bias = subject.mask_bias.as_ref();
    let out = integrate(
        model,
        &subject.input,
        bias,
        subject.target,
        &[Path {
            space: Space::Input,
            baseline: baseline.clone(),
            input,
        }],
        &PathOptions {
            rule: &rule,
            engine: model.runtime().engine,
            max_batch: params.chunk_rows(subject),
            attention: false,
        },
    )?;
    let attr = &out.attributions[0];
    let total: f64 = to_vec(attr)?.iter().sum();
    let y_base = logit_at(
        model,
        &subject.input,
        bias,
        subject.target,
        Space::Input,
        &baseline,
    )?;
    let difference = subject.logit()? - y_base;
    let delta = total - difference;
    let scores = if subject.is_text() {
        Scores::Tokens(token_sums(attr)?)
    } else {
        Scores::Patches(patch_sums(&attr.squeeze(0)?.sum(0)?, subject.patch_size)?)
    };
    Ok(Attribution {
        scores,
        layers: None,
        delta: Delta::Scalar(delta),
        details: None,
        warnings: super::delta_warning(&[(delta, difference)], params)
            .into_iter()
            .collect(),
        completeness: vec![(delta, difference)],
        steps: vec![params.steps],
    })
}
