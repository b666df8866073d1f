//! Gradient × input at the word-embedding output (pixels for images), summed over the hidden
//! dimension (channels, then pooled per patch).

use super::{Attribution, Params, Subject};
use crate::error::Result;

pub fn run(subject: &Subject, _params: &Params) -> Result<Attribution> {
    let g = subject.input_gradients()?;
    Ok(Attribution::scores_only(
        subject.scores_of(&(&g.input_grad * &g.input)?)?,
    ))
}
