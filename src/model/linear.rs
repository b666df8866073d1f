//! A linear layer whose backward pass computes the input gradient only.
//!
//! candle's matmul backward always computes both operand gradients, so with frozen weights a
//! third of the forward+backward FLOPs of every Linear go to weight gradients nobody reads.
//! Attribution never needs them: on CPU this layer runs as a custom op whose forward is the
//! usual x·Wᵀ + b and whose backward is only ∂L/∂x = ∂L/∂y · W; on other devices the device's
//! matrix product is attached to the graph with that backward (attach.rs).

use super::attach::{attach, Backward};
use candle_core::{CpuStorage, CustomOp1, Device, Layout, Module, Result, Shape, Storage, Tensor};
use candle_nn::VarBuilder;

#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    Ok(Linear {
        weight: vb.get((out_dim, in_dim), "weight")?,
        bias: Some(vb.get(out_dim, "bias")?),
    })
}

impl Linear {
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias }
    }

    /// The (out, in) weight matrix.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// x·Wᵀ + b with ordinary candle ops (differentiable in both operands), as one 2-D matmul.
    fn plain(&self, x: &Tensor) -> Result<Tensor> {
        let y = matmul_2d(x, &self.weight.t()?)?;
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// (..., k) · (k, n) → (..., n) through a single 2-D matrix product.
pub(crate) fn matmul_2d(x: &Tensor, m: &Tensor) -> Result<Tensor> {
    let dims = x.dims();
    let k = dims[dims.len() - 1];
    let rows = x.elem_count() / k.max(1);
    let mut out_dims = dims.to_vec();
    *out_dims.last_mut().expect("rank >= 1") = m.dim(1)?;
    x.contiguous()?
        .reshape((rows, k))?
        .matmul(m)?
        .reshape(out_dims)
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if matches!(x.device(), Device::Cpu) {
            x.contiguous()?.apply_op1(self.clone())
        } else {
            attach(
                x,
                &self.plain(&x.detach())?,
                InputGradient(self.weight.clone()),
            )
        }
    }
}

/// ∂L/∂x = ∂L/∂y · W of y = x·Wᵀ + b, for the attached device product.
struct InputGradient(Tensor);

impl Backward for InputGradient {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn input_grad(&self, _x: &Tensor, _y: &Tensor, grad_y: &Tensor) -> Result<Tensor> {
        matmul_2d(grad_y, &self.0)
    }
}

impl CustomOp1 for Linear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        // Re-wrap the input as a graph-free tensor (contiguous: see `forward`) and compute.
        let x = Tensor::from_storage(
            Storage::Cpu(storage.clone()),
            layout.shape().clone(),
            candle_core::op::BackpropOp::none(),
            false,
        );
        let x = if layout.start_offset() != 0 {
            x.flatten_all()?
                .narrow(0, layout.start_offset(), layout.shape().elem_count())?
                .reshape(layout.shape())?
        } else {
            x
        };
        let y = self.plain(&x.detach())?;
        let shape = y.shape().clone();
        let (storage, y_layout) = y.storage_and_layout();
        match &*storage {
            Storage::Cpu(cpu) if y_layout.is_contiguous() && y_layout.start_offset() == 0 => {
                Ok((cpu.clone(), shape))
            }
            _ => candle_core::bail!("frozen-linear: unexpected output layout"),
        }
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(matmul_2d(grad_res, &self.weight)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Var};

    #[test]
    fn forward_and_input_gradient_match_plain_ops() -> Result<()> {
        let dev = Device::Cpu;
        let l = Linear {
            weight: Tensor::randn(0f64, 1.0, (5, 3), &dev)?,
            bias: Some(Tensor::randn(0f64, 1.0, 5, &dev)?),
        };
        let x = Var::from_tensor(&Tensor::randn(0f64, 1.0, (2, 4, 3), &dev)?)?;
        let fast = l.forward(x.as_tensor())?;
        let plain = l.plain(x.as_tensor())?;
        let diff = (&fast - &plain)?.abs()?.max_all()?.to_scalar::<f64>()?;
        assert!(diff < 1e-12, "forward differs by {diff}");
        let g1 = fast.sqr()?.sum_all()?.backward()?;
        let g2 = plain.sqr()?.sum_all()?.backward()?;
        let (a, b) = (
            g1.get(x.as_tensor()).unwrap(),
            g2.get(x.as_tensor()).unwrap(),
        );
        let diff = (a - b)?.abs()?.max_all()?.to_scalar::<f64>()?;
        assert!(diff < 1e-12, "input gradient differs by {diff}");
        assert!(
            g1.get(&l.weight).is_none(),
            "no weight gradient is computed"
        );
        // Non-contiguous input (a transposed view) works too.
        let xt = Tensor::randn(0f32, 1.0, (3, 4), &dev)?.t()?;
        let lf = Linear {
            weight: l.weight.to_dtype(DType::F32)?,
            bias: None,
        };
        let d = (lf.forward(&xt)? - lf.plain(&xt)?)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(d < 1e-6);
        // The device path's backward, checked here with the CPU's product as the value.
        let attached = attach(
            x.as_tensor(),
            &l.plain(&x.as_tensor().detach())?,
            InputGradient(l.weight.clone()),
        )?;
        let g3 = attached.sqr()?.sum_all()?.backward()?;
        let diff = (g3.get(x.as_tensor()).unwrap() - b)?
            .abs()?
            .max_all()?
            .to_scalar::<f64>()?;
        assert!(diff < 1e-12, "attached input gradient differs by {diff}");
        assert!(g3.get(&l.weight).is_none());
        Ok(())
    }
}
