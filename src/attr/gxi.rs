//! Gradient × input at the word-embedding output (pixels for images), summed over the hidden
//! dimension (channels, then pooled per patch).

use super::{Attribution, Params, Subject};
use crate::error::Result;
use super::{Completeness, MethodInfo};

pub const INFO: MethodInfo = MethodInfo {
    name: "gxi",
    summary: "Gradient × input at the word embeddings (pixels for images).",
    signed: true,
    uses_reference: false,
    integrates_path: false,
    settings: &[],
    layers_title: None,
    completeness: Completeness::None,
    run,
    run_shared: None,
};

pub fn run(subject: &Subject, _params: &Params) -> Result<Attribution> {
    let g = subject.input_gradients()?;
    Ok(Attribution::scores_only(
        subject.scores_of(&(&g.input_grad * &g.input)?)?,
    ))
}
