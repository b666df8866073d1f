//! Raw attention: the last block's attention probabilities, mean over heads, read at [CLS].

use super::{Attribution, Scores, Subject};
use crate::error::{CaligError, Result};
use crate::model::Pooling;
use candle_core::{IndexOp, Tensor};

/// Reads a token-relevance vector off an (s, s) map: the [CLS] row, or for mean-pooled ViTs the
/// mean of the patch rows (what the pooled representation attends to).
pub(crate) fn readout(subject: &Subject, m: &Tensor) -> Result<Vec<f64>> {
    let s = m.dim(0)?;
    let row = if subject.model.config().pooling == Pooling::Mean && !subject.is_text() {
        m.narrow(0, 1, s - 1)?.mean(0)?
    } else {
        m.i(0)?
    };
    super::to_vec(&row)
}

pub fn run(subject: &Subject) -> Result<Attribution> {
    let out = subject.model.forward(&subject.input)?;
    let last = out
        .attentions
        .last()
        .ok_or_else(|| CaligError::Unsupported("the model has no attention blocks".into()))?;
    let mean = last.squeeze(0)?.mean(0)?;
    Ok(Attribution::scores_only(Scores::Tokens(readout(
        subject, &mean,
    )?)))
}
