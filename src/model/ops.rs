//! Differentiable building blocks.
//!
//! candle_nn's fused `layer_norm`, `softmax_last_dim` and friends have no backward pass and cut
//! the autograd graph silently (see docs/performance.md), so every op on a gradient path is built
//! here from primitives that do have one.

use super::rules::{identity_rule, Rules};
use candle_core::{DType, Result, Tensor, D};
use candle_nn::VarBuilder;

/// LayerNorm over the last dimension: the fused kernel (fused.rs) on the CPU, primitive ops
/// elsewhere.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    pub fn load(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: vb.get(size, "weight")?,
            bias: vb.get(size, "bias")?,
            eps,
        })
    }

    /// [`LayerNorm::load`], or without a bias (a zero one) when `bias` is false (PyTorch's
    /// `LayerNorm(bias=False)`: ModernBERT's `norm_bias = false`).
    pub fn load_with_bias(vb: VarBuilder, size: usize, eps: f64, bias: bool) -> Result<Self> {
        if bias {
            return Self::load(vb, size, eps);
        }
        let weight = vb.get(size, "weight")?;
        Ok(Self {
            bias: weight.zeros_like()?,
            weight,
            eps,
        })
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The fused kernel (fused.rs) on CPU; the primitive version elsewhere.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, Rules::Gradient)
    }

    /// Under AttnLRP the standard deviation is held constant in the backward pass.
    pub fn forward_with(&self, x: &Tensor, rules: Rules) -> Result<Tensor> {
        let constant_std = rules == Rules::AttnLrp;
        super::fused::layer_norm(x, &self.weight, &self.bias, self.eps, constant_std)
    }
}

/// LayerNorm from primitive ops: the reference the fused kernel is tested against.
/// `constant_std` detaches the standard deviation (AttnLRP's identity rule).
pub fn layer_norm_primitive(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
    constant_std: bool,
) -> Result<Tensor> {
    let n = x.dim(D::Minus1)? as f64;
    let centred = x.broadcast_sub(&(x.sum_keepdim(D::Minus1)? / n)?)?;
    let var = (centred.sqr()?.sum_keepdim(D::Minus1)? / n)?;
    let std = (var + eps)?.sqrt()?;
    let std = if constant_std { std.detach() } else { std };
    centred
        .broadcast_div(&std)?
        .broadcast_mul(weight)?
        .broadcast_add(bias)
}

/// Softmax over the last dimension built from max/sub/exp/sum/div (all differentiable).
pub fn softmax(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::softmax(x, D::Minus1)
}

/// The architecture's activation names (shared with the engine, which implements them too).
pub use crate::engine::kernels::Activation;

/// The candle forward of the activations, differentiable.
impl Activation {
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, Rules::Gradient)
    }

    /// Under AttnLRP the identity rule: relevance passes through unchanged.
    pub fn forward_with(&self, x: &Tensor, rules: Rules) -> Result<Tensor> {
        let y = self.plain(x)?;
        identity_rule(x, &y, rules)
    }

    fn plain(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            // candle's fused gelu_erf backward uses a truncated 1/sqrt(2*pi); fine in f32, but
            // visible in f64 finite-difference checks, so f64 composes it from erf.
            Self::Gelu if x.dtype() == DType::F64 => {
                (x * 0.5)? * ((x * std::f64::consts::FRAC_1_SQRT_2)?.erf()? + 1.0)?
            }
            Self::Gelu => x.gelu_erf(),
            // The same for the tanh form (ALBERT's gelu_new), whose candle backward has
            // 6-digit constants: composed from tanh in f64.
            Self::GeluTanh if x.dtype() == DType::F64 => {
                let c = (2.0 / std::f64::consts::PI).sqrt();
                let inner = ((x + ((x.sqr()? * x)? * 0.044715)?)? * c)?;
                (x * 0.5)? * (inner.tanh()? + 1.0)?
            }
            Self::GeluTanh => x.gelu(),
            Self::Relu => x.relu(),
        }
    }
}

/// Additive attention bias (b, 1, 1, s) from a 0/1 mask (b, s): 0 where attended, -1e4 where
/// masked. -1e4 is finite in f32 and f64 and gives exp() == 0 after the max shift.
pub fn mask_bias(mask: &Tensor, dtype: DType) -> Result<Tensor> {
    let m = mask.to_dtype(dtype)?.unsqueeze(1)?.unsqueeze(1)?;
    (m.ones_like()? - m)? * -1e4
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn layer_norm_matches_definition_and_has_gradient() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_vec(vec![1.0f64, 2.0, 4.0, -1.0, 0.5, 3.0], (2, 3), &dev)?;
        let ln = LayerNorm {
            weight: Tensor::new(&[1.0f64, 2.0, 0.5], &dev)?,
            bias: Tensor::new(&[0.0f64, 1.0, -1.0], &dev)?,
            eps: 1e-12,
        };
        let y = ln.forward(x.as_tensor())?;
        let row: Vec<f64> = y.get(0)?.to_vec1()?;
        let (m, v) = (
            7.0 / 3.0,
            ((1.0f64 - 7.0 / 3.0).powi(2)
                + (2.0f64 - 7.0 / 3.0).powi(2)
                + (4.0f64 - 7.0 / 3.0).powi(2))
                / 3.0,
        );
        let expect = [
            (1.0 - m) / v.sqrt(),
            2.0 * (2.0 - m) / v.sqrt() + 1.0,
            0.5 * (4.0 - m) / v.sqrt() - 1.0,
        ];
        for (a, b) in row.iter().zip(expect) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let grads = y.sqr()?.sum_all()?.backward()?;
        assert!(
            grads.get(x.as_tensor()).is_some(),
            "layer norm cut the graph"
        );
        Ok(())
    }

    #[test]
    fn softmax_and_gelu_keep_the_graph() -> Result<()> {
        let x = Var::from_vec(vec![0.3f64, -1.2, 2.0, 0.1], (1, 4), &Device::Cpu)?;
        for act in [Activation::Gelu, Activation::GeluTanh, Activation::Relu] {
            let y = softmax(&act.forward(x.as_tensor())?)?;
            let g = y.narrow(1, 0, 1)?.sum_all()?.backward()?;
            assert!(g.get(x.as_tensor()).is_some(), "{act:?} cut the graph");
        }
        Ok(())
    }
}
