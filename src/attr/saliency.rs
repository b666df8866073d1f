//! Saliency: the L2 norm of ∂y_c/∂E over the hidden dimension (unsigned). Images: the L2 norm
//! over channels per pixel, summed per patch.

use super::subject::{patch_sums, to_vec};
use super::{Attribution, Params, Scores, Subject};
use crate::error::Result;
use super::MethodInfo;

pub const INFO: MethodInfo = MethodInfo::new(
    "saliency",
    "L2 norm of the gradient at the word embeddings (pixels for images).",
    run,
)
.unsigned();

pub fn run(subject: &Subject, _params: &Params) -> Result<Attribution> {
    let g = subject.input_gradients()?;
    // L2 over dimension 1 of the batch-less gradient: hidden (s, d) or channels (c, h, w).
    let grad = g.input_grad.squeeze(0)?;
    let scores = if subject.is_text() {
        Scores::Tokens(to_vec(&grad.sqr()?.sum(1)?.sqrt()?)?)
    } else {
        Scores::Patches(patch_sums(
            &grad.sqr()?.sum(0)?.sqrt()?,
            subject.patch_size,
        )?)
    };
    Ok(Attribution::scores_only(scores))
}
