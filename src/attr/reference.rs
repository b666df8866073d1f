//! The reference input x′ of the methods that have one: its logit y_c(x′), and a warning when
//! the reference is itself classed as the target more strongly than the input. Attributions are
//! then relative to an input the model finds *more* typical of the class: their total,
//! y_c(x) − y_c(x′), has the opposite sign of the prediction, and a map of evidence for the
//! class reads as evidence against it.

use super::baseline::{self, Baseline, ResolvedBaseline};
use super::params::Params;
use super::path::{logit_at, logits_at, Space};
use super::subject::Subject;
use crate::choice::Choice;
use crate::error::{CaligError, Result};

/// The reference inputs of `params.baseline`: the N drawn ones of `expected:N`
/// (attr/expected.rs), else the one reference (`blur:σ` with its σ).
pub fn inputs(subject: &Subject, params: &Params) -> Result<Vec<ResolvedBaseline>> {
    Ok(match (params.baseline, params.blur_sigma) {
        (Baseline::Expected, _) => super::expected::references(subject, params)?.references,
        (Baseline::Blur, Some(sigma)) => vec![baseline::resolve(
            subject.model,
            &subject.input,
            Baseline::Blur,
            &subject.special,
            subject.special_ids,
            &subject.black,
            sigma,
        )?],
        (b, _) => vec![subject.baseline(b)?],
    })
}

/// The one reference input of `params.baseline`, for a method that takes one (occlusion).
pub fn single(subject: &Subject, params: &Params, method: &str) -> Result<ResolvedBaseline> {
    if params.baseline == Baseline::Expected {
        return Err(CaligError::InvalidInput(format!(
            "{method} takes one reference input; baseline expected:N (an average over N \
             references) is for the path methods ig, lig and calig"
        )));
    }
    let mut one = inputs(subject, params)?;
    Ok(one.remove(0))
}

/// y_c at the reference input of `params.baseline` (the input-space reference, as ig integrates
/// from); under `expected:N`, the mean over the N references.
pub fn logit(subject: &Subject, params: &Params) -> Result<f64> {
    let references = inputs(subject, params)?;
    let mut sum = 0.0;
    for r in &references {
        sum += logit_at(
            subject.model,
            &subject.input,
            subject.mask_bias.as_ref(),
            subject.objective(),
            Space::Input,
            &r.input_embeddings,
        )?;
    }
    Ok(sum / references.len() as f64)
}

/// The `neutral` reference of this input: of the candidates (text `pad`, `mask`, `unk`, `zero`;
/// images `black`, `blur`, `grey`, `zero`) that it can make, the one whose softmax over the
/// classes has the highest entropy (closest to uniform), with that entropy's share of the
/// uniform distribution's, log K (1 = uniform). [`Subject::neutral_reference`] keeps the answer.
pub fn neutral(subject: &Subject) -> Result<(Baseline, f64)> {
    let mut best: Option<(Baseline, f64)> = None;
    for &b in candidates(subject.is_text()) {
        // A reference the tokenizer cannot make (no mask token) is not a candidate.
        let Ok(r) = subject.baseline(b) else { continue };
        let logits = logits_at(
            subject.model,
            &subject.input,
            subject.mask_bias.as_ref(),
            Space::Input,
            &r.input_embeddings,
        )?;
        let h = entropy(&crate::explain::softmax(&logits));
        if best.is_none_or(|(_, e)| h > e) {
            best = Some((b, h));
        }
    }
    let k = subject.logits.len().max(2) as f64;
    best.map(|(b, h)| (b, h / k.ln())).ok_or_else(|| {
        crate::error::CaligError::InvalidInput(
            "no reference input can be made for this input".into(),
        )
    })
}

fn entropy(p: &[f64]) -> f64 {
    -p.iter()
        .filter(|&&x| x > 0.0)
        .map(|&x| x * x.ln())
        .sum::<f64>()
}

/// The references to try instead, for the input's kind.
fn candidates(is_text: bool) -> &'static [Baseline] {
    if is_text {
        &[Baseline::Pad, Baseline::Mask, Baseline::Unk, Baseline::Zero]
    } else {
        &[
            Baseline::Black,
            Baseline::Blur,
            Baseline::Grey,
            Baseline::Zero,
        ]
    }
}

/// When y_c(x′) is on the same side of 0 as y_c(x) and larger: a warning that says so, with the
/// references of this input whose logit is below y_c(x), lowest first.
pub fn warning(subject: &Subject, params: &Params, y_reference: f64) -> Result<Option<String>> {
    let baseline = params.baseline;
    let y = subject.logit()?;
    if !(y_reference > y && y_reference * y > 0.0) {
        return Ok(None);
    }
    let used = match baseline {
        Baseline::Neutral => subject.neutral_reference()?.0,
        b => b,
    };
    let mut lower: Vec<(f64, Baseline)> = Vec::new();
    for &b in candidates(subject.is_text()) {
        if b == used {
            continue;
        }
        // A reference this input or tokenizer cannot make (no mask token) is not suggested.
        let candidate = Params {
            baseline: b,
            ..Params::default()
        };
        if let Ok(v) = logit(subject, &candidate) {
            if v < y {
                lower.push((v, b));
            }
        }
    }
    lower.sort_by(|a, b| a.0.total_cmp(&b.0));
    let suggestion = if lower.is_empty() {
        "none of the other references of this input has a lower logit".to_string()
    } else {
        let list: Vec<String> = lower
            .iter()
            .map(|(v, b)| format!("baseline={} (y_c(x′) = {v:+.3})", b.name()))
            .collect();
        format!("a reference with a lower logit: {}", list.join(", "))
    };
    Ok(Some(format!(
        "the reference input ({}) is itself classed as the target, more strongly than the input: \
         y_c(x′) = {y_reference:+.3} > y_c(x) = {y:+.3}, so the scores sum to y_c(x) − y_c(x′) = \
         {:+.3}, of the opposite sign, and evidence for the class reads as evidence against it; \
         {suggestion}",
        match baseline {
            Baseline::Expected => format!("the mean over {}", params.baseline_spec().name()),
            _ => params.baseline_spec().name(),
        },
        y - y_reference
    )))
}
