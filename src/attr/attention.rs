//! Raw attention: the last block's attention probabilities, mean over heads, read at \[CLS\].

use super::{Attribution, Params, Scores, Subject};
use crate::error::{CaligError, Result};
use super::MethodInfo;

pub const INFO: MethodInfo = MethodInfo::new(
    "attention",
    "Last-layer attention, mean over heads, [CLS] row.",
    run,
)
.unsigned()
.without_contrast();

pub fn run(subject: &Subject, _params: &Params) -> Result<Attribution> {
    let out = subject.model.forward(&subject.input)?;
    let last = out
        .attentions
        .last()
        .ok_or_else(|| CaligError::Unsupported("the model has no attention blocks".into()))?;
    let mean = last.squeeze(0)?.mean(0)?;
    Ok(Attribution::scores_only(Scores::Tokens(
        subject.readout(&mean)?,
    )))
}
