//! Integrated Gradients in the attributed input space (DESIGN §3 `ig`): the word-embedding
//! output for text (Captum LayerIntegratedGradients on `embeddings.word_embeddings`), the
//! normalised pixels for images (summed over channels, pooled per patch).

use super::path::auto::integrate_paths;
use super::path::{logit_at, Path, Space};
use super::{reference, Attribution, Delta, Params, Reduce, Subject};
use candle_core::Tensor;
use crate::error::Result;
use super::{settings, Completeness, MethodInfo};

pub const INFO: MethodInfo = MethodInfo::new(
    "ig",
    "Integrated Gradients w.r.t. the word embeddings (pixels for images).",
    run,
)
.with_reference()
.integrating_path()
.reading(&[settings::PATH, &["reduce"]])
.conserving(Completeness::LogitDifference);

pub fn run(subject: &Subject, params: &Params) -> Result<Attribution> {
    let model = subject.model;
    let input = model.input_embeddings(&subject.input)?;
    let y = subject.logit()?;
    // One path per reference (several under expected:N), integrated together.
    let mut paths = Vec::new();
    let mut y_bases = Vec::new();
    for r in reference::inputs(subject, params)? {
        y_bases.push(logit_at(
            model,
            &subject.input,
            subject.mask_bias.as_ref(),
            subject.objective(),
            Space::Input,
            &r.input_embeddings,
        )?);
        paths.push(Path {
            space: Space::Input,
            baseline: r.input_embeddings,
            input: input.clone(),
        });
    }
    let differences: Vec<f64> = y_bases.iter().map(|b| y - b).collect();
    let out = integrate_paths(subject, params, &paths, &differences, false)?;
    // The average over the references; its delta is the mean of theirs.
    let n = paths.len() as f64;
    let attribution = (Tensor::stack(&out.attributions, 0)?.sum(0)? / n)?;
    let y_base = y_bases.iter().sum::<f64>() / n;
    let delta = out.deltas.iter().sum::<f64>() / n;
    // `reduce` (M⁴): |a| or a² per dimension before the sum; the delta stays the signed one's.
    let reduced = match params.reduce {
        Reduce::Sum => attribution,
        Reduce::Abs => attribution.abs()?,
        Reduce::Sq => attribution.sqr()?,
    };
    Ok(Attribution {
        scores: subject.scores_of(&reduced)?,
        layers: None,
        delta: Delta::Scalar(delta),
        details: None,
        warnings: average_warning(params, paths.len(), &[(delta, y - y_base)], out.warning)
            .into_iter()
            .collect(),
        completeness: vec![(delta, y - y_base)],
        steps: out.steps,
        baseline_logit: Some(y_base),
    })
}

/// The delta warning of an average over `paths` references: judged on the average's
/// completeness (one reference's path may have a tiny logit difference, against which its
/// delta is large), except under `--steps auto`, whose warning is about its tolerance per path.
pub(crate) fn average_warning(
    params: &Params,
    paths: usize,
    average: &[(f64, f64)],
    per_path: Option<String>,
) -> Option<String> {
    if paths <= 1 || params.tolerance.is_some() {
        return per_path;
    }
    super::attribution::delta_warning(
        average,
        params.steps,
        params.quadrature == super::quadrature::Quadrature::GaussLegendre,
    )
}
