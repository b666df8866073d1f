//! Gradient × input at the word-embedding output (pixels for images), summed over the hidden
//! dimension (channels, then pooled per patch).

use super::grads::at_input;
use super::{patch_sums, to_vec, token_sums, Attribution, Delta, Scores, Subject};
use crate::error::Result;

pub fn run(subject: &Subject) -> Result<Attribution> {
    let g = at_input(
        subject.model,
        &subject.input,
        subject.mask_bias.as_ref(),
        subject.target,
    )?;
    let prod = (&g.input_grad * &g.input)?;
    let scores = if subject.is_text() {
        Scores::Tokens(token_sums(&prod)?)
    } else {
        let (_, _, h, w) = prod.dims4()?;
        Scores::Patches(patch_sums(
            &to_vec(&prod.squeeze(0)?.sum(0)?)?,
            h,
            w,
            subject.patch_size,
        ))
    };
    Ok(Attribution {
        scores,
        layers: None,
        delta: Delta::None,
        details: None,
    })
}
