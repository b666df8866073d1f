//! What an attribution explains: the target logit y_c, or with a contrast (`--contrast`) the
//! difference y_c − y_k ("why c rather than k"; Yin & Neubig 2022) or the log-odds
//! log p_c − log(1 − p_c) ("why c rather than the rest"). Every gradient, path integral,
//! occlusion drop, AttnLRP seed and completeness check of the methods that take a contrast
//! reads the same scalar from the logits, here.

use crate::error::{CaligError, Result};
use candle_core::{Device, IndexOp, Tensor, D};

/// The class an explanation is contrasted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contrast {
    /// y_c − y_k.
    Class(usize),
    /// log p_c − log(1 − p_c) = y_c − log Σ_{j≠c} exp y_j.
    Rest,
}

/// The explained scalar: class `class`, contrasted or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Objective {
    pub class: usize,
    pub contrast: Option<Contrast>,
}

impl Objective {
    pub fn plain(class: usize) -> Self {
        Self {
            class,
            contrast: None,
        }
    }

    /// The objective of every row of `logits` (b, classes): (b,).
    pub fn of_logits(&self, logits: &Tensor) -> Result<Tensor> {
        let classes = logits.dim(1)?;
        let y = logits.i((.., self.class))?;
        Ok(match self.contrast {
            None => y,
            Some(Contrast::Class(k)) => (y - logits.i((.., k))?)?,
            Some(Contrast::Rest) => {
                let others: Vec<u32> = (0..classes as u32)
                    .filter(|&j| j as usize != self.class)
                    .collect();
                let idx = Tensor::from_vec(others, classes - 1, logits.device())?;
                let rest = logits.index_select(&idx, 1)?;
                // log Σ exp, shifted by the (constant) row maximum.
                let m = rest.max_keepdim(D::Minus1)?.detach();
                let lse = (rest
                    .broadcast_sub(&m)?
                    .exp()?
                    .sum_keepdim(D::Minus1)?
                    .log()?
                    + m)?;
                (y - lse.squeeze(1)?)?
            }
        })
    }

    /// The objective from one row of logits: [`Objective::of_logits`] on it, in f64.
    pub fn value(&self, logits: &[f64]) -> Result<f64> {
        let named = std::iter::once(self.class).chain(match self.contrast {
            Some(Contrast::Class(k)) => Some(k),
            _ => None,
        });
        for i in named {
            if i >= logits.len() {
                return Err(CaligError::InvalidInput(format!(
                    "class {i} is not one of the {} classes",
                    logits.len()
                )));
            }
        }
        let row = Tensor::from_slice(logits, (1, logits.len()), &Device::Cpu)?;
        Ok(self.of_logits(&row)?.i(0)?.to_scalar::<f64>()?)
    }

    /// A cache key for memos.
    pub fn key(&self) -> String {
        format!("{}{:?}", self.class, self.contrast)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    #[test]
    fn the_three_objectives_and_their_gradients() -> Result<()> {
        let logits = [1.0f64, -0.5, 2.0];
        let t = Var::from_vec(logits.to_vec(), (1, 3), &Device::Cpu)?;
        let plain = Objective::plain(0);
        assert_eq!(plain.value(&logits)?, 1.0);
        let pair = Objective {
            class: 0,
            contrast: Some(Contrast::Class(2)),
        };
        assert_eq!(pair.value(&logits)?, -1.0);
        let rest = Objective {
            class: 0,
            contrast: Some(Contrast::Rest),
        };
        // log p_0 − log(1 − p_0) from the softmax.
        let p = crate::explain::softmax(&logits);
        let want = p[0].ln() - (1.0 - p[0]).ln();
        assert!((rest.value(&logits)? - want).abs() < 1e-12);
        let on_tensor: f64 = rest.of_logits(t.as_tensor())?.i(0)?.to_scalar()?;
        assert!((on_tensor - want).abs() < 1e-12);
        // d/dy_j of the log-odds: 1 for c, −softmax over the rest for the others.
        let g = rest.of_logits(t.as_tensor())?.sum_all()?.backward()?;
        let g: Vec<f64> = g.get(t.as_tensor()).unwrap().flatten_all()?.to_vec1()?;
        let z = logits[1].exp() + logits[2].exp();
        assert!((g[0] - 1.0).abs() < 1e-12);
        assert!((g[1] + logits[1].exp() / z).abs() < 1e-12);
        assert!((g[2] + logits[2].exp() / z).abs() < 1e-12);
        assert!(pair.value(&[1.0]).is_err());
        Ok(())
    }
}
