//! Gradient × input at the word-embedding output (pixels for images), summed over the hidden
//! dimension (channels, then pooled per patch).

use super::{Attribution, Params, Subject};
use crate::error::Result;
use super::MethodInfo;

pub const INFO: MethodInfo = MethodInfo::new(
    "gxi",
    "Gradient × input at the word embeddings (pixels for images).",
    run,
);

pub fn run(subject: &Subject, _params: &Params) -> Result<Attribution> {
    let g = subject.input_gradients()?;
    Ok(Attribution::scores_only(
        subject.scores_of(&(&g.input_grad * &g.input)?)?,
    ))
}
