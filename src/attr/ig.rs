//! Integrated Gradients in the attributed input space (DESIGN §3 `ig`): the word-embedding
//! output for text (Captum LayerIntegratedGradients on `embeddings.word_embeddings`), the
//! normalised pixels for images (summed over channels, pooled per patch).

use super::path::auto::integrate_paths;
use super::path::{logit_at, Path, Space};
use super::{Attribution, Delta, Params, Subject};
use crate::error::Result;
use super::{settings, Completeness, MethodInfo};

pub const INFO: MethodInfo = MethodInfo::new(
    "ig",
    "Integrated Gradients w.r.t. the word embeddings (pixels for images).",
    run,
)
.with_reference()
.integrating_path()
.reading(&[settings::PATH])
.conserving(Completeness::LogitDifference);

pub fn run(subject: &Subject, params: &Params) -> Result<Attribution> {
    let model = subject.model;
    let baseline = subject.baseline(params.baseline)?.input_embeddings;
    let y_base = logit_at(
        model,
        &subject.input,
        subject.mask_bias.as_ref(),
        subject.objective(),
        Space::Input,
        &baseline,
    )?;
    let path = Path {
        space: Space::Input,
        baseline,
        input: model.input_embeddings(&subject.input)?,
    };
    let out = integrate_paths(
        subject,
        params,
        &[path],
        &[subject.logit()? - y_base],
        false,
    )?;
    Ok(Attribution {
        scores: subject.scores_of(&out.attributions[0])?,
        layers: None,
        delta: Delta::Scalar(out.deltas[0]),
        details: None,
        warnings: out.warning.into_iter().collect(),
        completeness: out.completeness,
        steps: out.steps,
        baseline_logit: Some(y_base),
    })
}
