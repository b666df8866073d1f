//! Values computed off the autograd graph, attached to it with a closed-form backward in
//! candle ops. On a GPU this is how a block gets candle-nn's fused CUDA softmax and LayerNorm
//! (one kernel each, but no backward: used bare they cut the graph) and a linear layer whose
//! backward computes only the input gradient (candle's matmul backward also computes the
//! weight's, a third of a frozen linear layer's FLOPs for nothing). The forward stays the
//! device's kernel; the cost is one device copy of the value. On the CPU, fused.rs and
//! linear.rs do the same in one custom op each.

use candle_core::backend::{BackendDevice, BackendStorage};
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

/// The input gradient of y = f(x): ∂L/∂x from x, y and ∂L/∂y, in candle ops.
pub trait Backward: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn input_grad(&self, x: &Tensor, y: &Tensor, grad_y: &Tensor) -> Result<Tensor>;
}

/// (x, value) → a copy of value, whose gradient goes to x through the [`Backward`].
struct Attach<B>(B);

impl<B: Backward> CustomOp2 for Attach<B> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn cpu_fwd(
        &self,
        _x: &CpuStorage,
        _xl: &Layout,
        value: &CpuStorage,
        layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        // SAFETY: every element of `out` is written by the copy below.
        let mut out = unsafe {
            candle_core::cpu_backend::CpuDevice.alloc_uninit(layout.shape(), value.dtype())?
        };
        value.copy_strided_src(&mut out, 0, layout)?;
        Ok((out, layout.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _x: &candle_core::CudaStorage,
        _xl: &Layout,
        value: &candle_core::CudaStorage,
        layout: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        // SAFETY: every element of `out` is written by the copy below.
        let mut out = unsafe { value.device().alloc_uninit(layout.shape(), value.dtype())? };
        value.copy_strided_src(&mut out, 0, layout)?;
        Ok((out, layout.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        _value: &Tensor,
        y: &Tensor,
        grad_y: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(self.0.input_grad(x, y, grad_y)?), None))
    }
}

/// `value` = f(`x`), computed without a graph, as a tensor whose gradient flows back to `x`
/// through `backward`.
pub fn attach(x: &Tensor, value: &Tensor, backward: impl Backward) -> Result<Tensor> {
    x.apply_op2(&value.detach(), Attach(backward))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// y = 3x, told to the graph by its backward.
    struct Triple;

    impl Backward for Triple {
        fn name(&self) -> &'static str {
            "triple"
        }

        fn input_grad(&self, _x: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Tensor> {
            g * 3.0
        }
    }

    #[test]
    fn the_value_is_kept_and_the_gradient_is_the_backwards() -> Result<()> {
        let x = Var::from_vec(vec![1.0f32, -2.0, 0.5, 4.0], (2, 2), &Device::Cpu)?;
        // A strided value (a transpose) is copied as the tensor it is.
        let value = (x.as_tensor().t()? * 3.0)?.t()?;
        let y = attach(x.as_tensor(), &value, Triple)?;
        assert_eq!(y.to_vec2::<f32>()?, vec![vec![3.0, -6.0], vec![1.5, 12.0]]);
        let g = (y.sqr()?.sum_all()?).backward()?;
        // d/dx Σ (3x)² = 18x.
        let gx = g.get(x.as_tensor()).expect("gradient reached x");
        assert_eq!(
            gx.to_vec2::<f32>()?,
            vec![vec![18.0, -36.0], vec![9.0, 72.0]]
        );
        Ok(())
    }
}
