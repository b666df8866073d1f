//! Attention rollout (Abnar & Zuidema 2020): Ã^(l) = rownorm(mean_k A^(l,k) + I),
//! R = Ã^(L)···Ã^(s), read at \[CLS\]; s = `start_layer` (default 1: every block).

use super::{Attribution, Params, Scores, Subject};
use crate::error::Result;
use candle_core::{Tensor, D};
use super::MethodInfo;

pub const INFO: MethodInfo = MethodInfo::new(
    "rollout",
    "Attention rollout (Abnar & Zuidema 2020).",
    run,
)
.unsigned()
.reading(&[&["start_layer"]])
.without_contrast();

pub fn run(subject: &Subject, params: &Params) -> Result<Attribution> {
    let first = super::gae::first_block(subject, params)?;
    let out = subject.model.forward(&subject.input)?;
    let mut r: Option<Tensor> = None;
    for a in &out.attentions[first..] {
        let mean = a.squeeze(0)?.mean(0)?;
        let eye = Tensor::eye(mean.dim(0)?, mean.dtype(), mean.device())?;
        let aug = (mean + eye)?;
        let aug = aug.broadcast_div(&aug.sum_keepdim(D::Minus1)?)?;
        r = Some(match r {
            None => aug,
            Some(prev) => aug.matmul(&prev)?,
        });
    }
    let r = r.ok_or_else(|| {
        crate::error::CaligError::Unsupported("the model has no attention blocks".into())
    })?;
    Ok(Attribution::scores_only(Scores::Tokens(
        subject.readout(&r)?,
    )))
}
