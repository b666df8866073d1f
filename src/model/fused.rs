//! Fused kernels with explicit backward passes for the elementwise-heavy ops of a block:
//! LayerNorm and softmax over the last dimension. Built from primitives these allocate a dozen
//! temporaries each (ops.rs keeps those versions as the oracle the tests compare against);
//! here each is one pass forward and a closed-form gradient backward: calig's own kernels on
//! the CPU (f32/f64), candle-nn's CUDA kernels on a GPU (f32/f16/bf16, attach.rs). Other
//! devices and dtypes fall back to the primitive versions.

use super::attach::{attach, Backward};
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Result, Shape, Tensor, D};

/// Whether candle-nn has a fused CUDA kernel for `x`'s device and dtype.
fn device_kernel(x: &Tensor) -> bool {
    x.device().is_cuda() && matches!(x.dtype(), DType::F32 | DType::F16 | DType::BF16)
}

/// dx = y ⊙ (g − Σ_j g_j y_j), the softmax's input gradient.
fn softmax_grad(y: &Tensor, g: &Tensor) -> Result<Tensor> {
    let dot = (g * y)?.sum_keepdim(D::Minus1)?;
    y * g.broadcast_sub(&dot)?
}

/// The gradient of x̂ = (x − mean) / σ: dx = (g − mean(g) − x̂ · mean(g ⊙ x̂)) / σ, with σ (and
/// x̂ when not given) recovered from x; without the x̂ term when σ is held constant.
fn normalise_grad(
    x: &Tensor,
    xhat: Option<&Tensor>,
    g: &Tensor,
    eps: f64,
    constant_std: bool,
) -> Result<Tensor> {
    let n = x.dim(D::Minus1)? as f64;
    let centred = x.broadcast_sub(&(x.sum_keepdim(D::Minus1)? / n)?)?;
    let var = (centred.sqr()?.sum_keepdim(D::Minus1)? / n)?;
    let inv_std = (var + eps)?.sqrt()?.recip()?;
    let g_mean = (g.sum_keepdim(D::Minus1)? / n)?;
    let mut dx = g.broadcast_sub(&g_mean)?;
    if !constant_std {
        let xhat = match xhat {
            Some(t) => t.clone(),
            None => centred.broadcast_mul(&inv_std)?,
        };
        let gx_mean = ((g * &xhat)?.sum_keepdim(D::Minus1)? / n)?;
        dx = dx.sub(&xhat.broadcast_mul(&gx_mean)?)?;
    }
    dx.broadcast_mul(&inv_std)
}

/// The backward of a device's fused softmax.
struct SoftmaxBackward;

impl Backward for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "device-softmax"
    }

    fn input_grad(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Tensor> {
        softmax_grad(y, g)
    }
}

/// The backward of a device's fused LayerNorm y = x̂ ⊙ weight + bias.
struct LayerNormBackward {
    weight: Tensor,
    eps: f64,
    constant_std: bool,
}

impl Backward for LayerNormBackward {
    fn name(&self) -> &'static str {
        "device-layer-norm"
    }

    fn input_grad(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Tensor> {
        let g = g.broadcast_mul(&self.weight)?;
        normalise_grad(x, None, &g, self.eps, self.constant_std)
    }
}

/// Rows of the contiguous input slice, or None when the layout is not contiguous.
fn rows<'a, T>(s: &'a [T], layout: &Layout) -> Option<(&'a [T], usize)> {
    let (start, end) = layout.contiguous_offsets()?;
    let n = *layout.dims().last()?;
    Some((&s[start..end], n))
}

macro_rules! per_dtype {
    ($storage:expr, $layout:expr, $f:ident) => {
        match $storage {
            CpuStorage::F32(v) => {
                let (x, n) = rows(v, $layout)
                    .ok_or_else(|| candle_core::Error::Msg("non-contiguous input".into()))?;
                CpuStorage::F32($f(x, n))
            }
            CpuStorage::F64(v) => {
                let (x, n) = rows(v, $layout)
                    .ok_or_else(|| candle_core::Error::Msg("non-contiguous input".into()))?;
                CpuStorage::F64($f(x, n))
            }
            _ => candle_core::bail!("fused op: unsupported dtype"),
        }
    };
}

fn softmax_rows<T: num_traits::Float>(x: &[T], n: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(n) {
        let max = row.iter().fold(T::neg_infinity(), |m, &v| m.max(v));
        let start = out.len();
        let mut sum = T::zero();
        for &v in row {
            let e = (v - max).exp();
            sum = sum + e;
            out.push(e);
        }
        for o in &mut out[start..] {
            *o = *o / sum;
        }
    }
    out
}

/// Softmax over the last dimension.
struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "fused-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        Ok((
            per_dtype!(storage, layout, softmax_rows),
            layout.shape().clone(),
        ))
    }

    fn bwd(&self, _arg: &Tensor, y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(softmax_grad(y, g)?))
    }
}

pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if matches!(x.device(), Device::Cpu) && matches!(x.dtype(), DType::F32 | DType::F64) {
        x.contiguous()?.apply_op1(Softmax)
    } else if device_kernel(x) {
        let x = x.contiguous()?;
        attach(&x, &candle_nn::ops::softmax_last_dim(&x)?, SoftmaxBackward)
    } else {
        super::ops::softmax(x)
    }
}

/// Normalisation without the affine part: x̂ = (x − mean) / sqrt(var + eps). `constant_std`
/// gives the backward of the standard deviation held constant (AttnLRP's identity rule).
struct Normalise {
    eps: f64,
    constant_std: bool,
}

fn normalise_rows<T: num_traits::Float>(x: &[T], n: usize, eps: f64) -> Vec<T> {
    let nf = T::from(n).unwrap_or_else(T::one);
    let eps = T::from(eps).unwrap_or_else(T::zero);
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(n) {
        let mean = row.iter().fold(T::zero(), |s, &v| s + v) / nf;
        let var = row
            .iter()
            .fold(T::zero(), |s, &v| s + (v - mean) * (v - mean))
            / nf;
        let inv = T::one() / (var + eps).sqrt();
        out.extend(row.iter().map(|&v| (v - mean) * inv));
    }
    out
}

impl CustomOp1 for Normalise {
    fn name(&self) -> &'static str {
        "fused-normalise"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let eps = self.eps;
        let f32_rows = |x: &[f32], n: usize| normalise_rows(x, n, eps);
        let f64_rows = |x: &[f64], n: usize| normalise_rows(x, n, eps);
        let out = match storage {
            CpuStorage::F32(v) => {
                let (x, n) = rows(v, layout)
                    .ok_or_else(|| candle_core::Error::Msg("non-contiguous input".into()))?;
                CpuStorage::F32(f32_rows(x, n))
            }
            CpuStorage::F64(v) => {
                let (x, n) = rows(v, layout)
                    .ok_or_else(|| candle_core::Error::Msg("non-contiguous input".into()))?;
                CpuStorage::F64(f64_rows(x, n))
            }
            _ => candle_core::bail!("fused op: unsupported dtype"),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, xhat: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(normalise_grad(
            x,
            Some(xhat),
            g,
            self.eps,
            self.constant_std,
        )?))
    }
}

/// LayerNorm over the last dimension: the fused normalisation, then the affine part with
/// ordinary ops.
pub fn layer_norm(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
    constant_std: bool,
) -> Result<Tensor> {
    if matches!(x.device(), Device::Cpu) && matches!(x.dtype(), DType::F32 | DType::F64) {
        x.contiguous()?
            .apply_op1(Normalise { eps, constant_std })?
            .broadcast_mul(weight)?
            .broadcast_add(bias)
    } else if device_kernel(x) && weight.dtype() == x.dtype() && bias.dtype() == x.dtype() {
        let x = x.contiguous()?;
        let y = candle_nn::ops::layer_norm(&x, weight, bias, eps as f32)?;
        let backward = LayerNormBackward {
            weight: weight.clone(),
            eps,
            constant_std,
        };
        attach(&x, &y, backward)
    } else {
        super::ops::layer_norm_primitive(x, weight, bias, eps, constant_std)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    }

    #[test]
    fn fused_ops_match_primitives_forward_and_backward() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&(Tensor::randn(0f64, 2.0, (3, 5, 7), &dev)?))?;
        let w = Tensor::randn(1f64, 0.3, 7, &dev)?;
        let b = Tensor::randn(0f64, 0.3, 7, &dev)?;
        let probe = Tensor::randn(0f64, 1.0, (3, 5, 7), &dev)?;
        for (name, fused, plain) in [
            (
                "softmax",
                softmax_last_dim(x.as_tensor())?,
                super::super::ops::softmax(x.as_tensor())?,
            ),
            (
                "layer norm",
                layer_norm(x.as_tensor(), &w, &b, 1e-12, false)?,
                super::super::ops::layer_norm_primitive(x.as_tensor(), &w, &b, 1e-12, false)?,
            ),
            (
                "layer norm, constant std",
                layer_norm(x.as_tensor(), &w, &b, 1e-12, true)?,
                super::super::ops::layer_norm_primitive(x.as_tensor(), &w, &b, 1e-12, true)?,
            ),
        ] {
            assert!(max_diff(&fused, &plain) < 1e-12, "{name} forward");
            let gf = (&fused * &probe)?.sum_all()?.backward()?;
            let gp = (&plain * &probe)?.sum_all()?.backward()?;
            let d = max_diff(
                gf.get(x.as_tensor()).unwrap(),
                gp.get(x.as_tensor()).unwrap(),
            );
            assert!(d < 1e-10, "{name} backward differs by {d}");
        }
        // f32 and a strided (transposed) input.
        let xt = Tensor::randn(0f32, 1.0, (7, 5), &dev)?.t()?;
        assert!(max_diff(&softmax_last_dim(&xt)?, &super::super::ops::softmax(&xt)?) < 1e-6);
        Ok(())
    }

    /// The backward passes that accompany candle-nn's CUDA kernels, checked on the CPU with the
    /// primitive forward as the value: the same gradients as the primitives'.
    #[test]
    fn device_kernels_backward_matches_primitives() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&(Tensor::randn(0f64, 2.0, (3, 5, 7), &dev)?))?;
        let w = Tensor::randn(1f64, 0.3, 7, &dev)?;
        let b = Tensor::randn(0f64, 0.3, 7, &dev)?;
        let probe = Tensor::randn(0f64, 1.0, (3, 5, 7), &dev)?;
        let xt = x.as_tensor();
        let plain_ln = |c| super::super::ops::layer_norm_primitive(xt, &w, &b, 1e-12, c);
        let ln_backward = |constant_std| LayerNormBackward {
            weight: w.clone(),
            eps: 1e-12,
            constant_std,
        };
        for (name, attached, plain) in [
            (
                "softmax",
                attach(xt, &super::super::ops::softmax(xt)?, SoftmaxBackward)?,
                super::super::ops::softmax(xt)?,
            ),
            (
                "layer norm",
                attach(xt, &plain_ln(false)?, ln_backward(false))?,
                plain_ln(false)?,
            ),
            (
                "layer norm, constant std",
                attach(xt, &plain_ln(true)?, ln_backward(true))?,
                plain_ln(true)?,
            ),
        ] {
            let ga = (&attached * &probe)?.sum_all()?.backward()?;
            let gp = (&plain * &probe)?.sum_all()?.backward()?;
            let d = max_diff(ga.get(xt).unwrap(), gp.get(xt).unwrap());
            assert!(d < 1e-10, "{name} backward differs by {d}");
        }
        Ok(())
    }
}
