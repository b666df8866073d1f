//! Gradient × input at the word-embedding output (pixels for images), summed over the hidden
//! dimension (channels, then pooled per patch).

use super::{patch_sums, token_sums, Attribution, Scores, Subject};
use crate::error::Result;

pub fn run(subject: &Subject) -> Result<Attribution> {
    let g = subject.input_gradients()?;
    let prod = (&g.input_grad * &g.input)?;
    let scores = if subject.is_text() {
        Scores::Tokens(token_sums(&prod)?)
    } else {
        Scores::Patches(patch_sums(&prod.squeeze(0)?.sum(0)?, subject.patch_size)?)
    };
    Ok(Attribution::scores_only(scores))
}
