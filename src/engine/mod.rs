//! The explicit CPU engine for the block stack: forward kernels that keep what the backward
//! needs, closed-form backward kernels for input gradients only (weights are frozen), GEMMs on
//! contiguous buffers with transposes as strides. It runs the integrated-gradients chunks of
//! attr/path.rs, where all the FLOPs are; embeddings and heads (a few rows) stay on candle's
//! autograd. The candle implementation (model/block.rs) is the oracle the tests compare with.
//!
//! Used for f32 and f64 on the CPU with true gradients; [`EngineChoice::Candle`](crate::runtime::EngineChoice::Candle) (the CLI's
//! `CALIG_ENGINE=candle`) forces the oracle. The engine knows no model type: the model hands it
//! plain weight arrays ([`BlockWeights`](crate::engine::block::BlockWeights)).

pub mod attention;
pub mod block;
pub mod buffer;
pub mod chunk;
pub mod gemm;
pub mod kernels;

pub use crate::runtime::EngineChoice;
use crate::runtime::Runtime;
use candle_core::Tensor;

/// The float types the engine runs in, with the transcendental functions of its hot loops.
pub trait Real:
    num_traits::Float
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + candle_core::WithDType
    + buffer::Pooled
    + Send
    + Sync
    + 'static
{
    /// e^x. f32: branch-free, so the compiler vectorises the loops that call it
    /// (relative error < 3e-7, tested); f64: the exact libm value.
    fn exp_fast(self) -> Self;

    /// erf(x) given g = e^{−x²}, which the GELU shares with its density. f32:
    /// Abramowitz & Stegun 7.1.26 (1.5e-7, < 1e-6 in f32 arithmetic, tested), branch-free; f64: exact
    /// libm (g unused).
    fn erf_given_gauss(self, g: Self) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn exp_fast(self) -> Self {
        // e^x = 2^n · e^r, n = round(x / ln 2), |r| ≤ ln 2 / 2 (Cody–Waite split of ln 2), e^r by
        // its Taylor series to degree 7 (truncation < 6e-9). Adding 1.5·2^23 rounds to an
        // integer that sits in the low mantissa bits, so no float-to-int conversion is needed.
        const MAGIC: f32 = 12_582_912.0;
        let x = self.clamp(-87.0, 88.0);
        let t = x * std::f32::consts::LOG2_E + MAGIC;
        let n = t - MAGIC;
        let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
        let p = 1.0
            + r * (1.0
                + r * (0.5
                    + r * (1.0 / 6.0
                        + r * (1.0 / 24.0
                            + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
        let exponent = (t.to_bits().wrapping_sub(MAGIC.to_bits()) as i32 + 127) as u32;
        p * f32::from_bits(exponent << 23)
    }

    #[inline(always)]
    fn erf_given_gauss(self, g: Self) -> Self {
        let a = self.abs();
        let t = 1.0 / (1.0 + 0.327_591_1 * a);
        let poly = t
            * (0.254_829_6
                + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152 + t * 1.061_405_4))));
        (1.0 - poly * g).copysign(self)
    }
}

impl Real for f64 {
    fn exp_fast(self) -> Self {
        self.exp()
    }

    fn erf_given_gauss(self, _g: Self) -> Self {
        libm::erf(self)
    }
}

/// A tensor's elements, row-major, converted to `T`.
pub fn to_host<T: Real>(t: &Tensor) -> candle_core::Result<Vec<T>> {
    t.to_dtype(T::DTYPE)?.flatten_all()?.to_vec1::<T>()
}

/// The blocks of one model, in one float type.
pub struct Stack<T> {
    pub blocks: Vec<block::BlockWeights<T>>,
    /// The head reads h^(L) at the first token only (every text head, ViT with \[CLS\] pooling):
    /// the last block then computes that token's output alone, exactly, at about a third of
    /// the cost.
    pub first_token_readout: bool,
}

impl<T: Real> Stack<T> {
    /// Tokens per sequence of h^(L) as the stack returns it: 1 with a first-token readout.
    pub fn readout_tokens(&self, seq: usize) -> usize {
        if self.first_token_readout && !self.blocks.is_empty() {
            1
        } else {
            seq
        }
    }

    /// Query tokens per sequence of block `b`: the readout tokens for the last block, every
    /// token before it.
    pub fn queries_at(&self, b: usize, seq: usize) -> usize {
        if b + 1 == self.blocks.len() {
            self.readout_tokens(seq)
        } else {
            seq
        }
    }

    pub fn width(&self) -> usize {
        self.blocks.first().map_or(0, |b| b.width())
    }
}

/// The engine for a model's dtype.
pub enum Engine {
    F32(Stack<f32>),
    F64(Stack<f64>),
}

impl Engine {
    /// h^(L) of a batch h^(0) (b, s, d) with an optional additive mask (b|1, 1, 1, s), as
    /// (b, t, d) with t = [`Stack::readout_tokens`]: the sequences are shared out among the
    /// workers.
    pub fn run_blocks(
        &self,
        h0: &Tensor,
        mask_bias: Option<&Tensor>,
        runtime: &Runtime,
    ) -> crate::error::Result<Tensor> {
        match self {
            Self::F32(stack) => forward_parallel(stack, h0, mask_bias, runtime),
            Self::F64(stack) => forward_parallel(stack, h0, mask_bias, runtime),
        }
    }
}

fn forward_parallel<T: Real>(
    stack: &Stack<T>,
    h0: &Tensor,
    mask_bias: Option<&Tensor>,
    runtime: &Runtime,
) -> crate::error::Result<Tensor> {
    let (b, s, d) = h0.dims3()?;
    let h = to_host::<T>(h0)?;
    let mask = mask_bias.map(to_host::<T>).transpose()?;
    // Per-sequence masks are cut with their rows; a shared one (s values) goes to every part.
    let per_row_mask = mask.as_ref().is_some_and(|m| m.len() == b * s && b > 1);
    let part = b.div_ceil(runtime.workers).max(1);
    let starts: Vec<usize> = (0..b).step_by(part).collect();
    let parts = runtime.map_parallel(&starts, |&first| {
        let rows = part.min(b - first);
        let m = mask.as_deref().map(|m| {
            if per_row_mask {
                &m[first * s..(first + rows) * s]
            } else {
                &m[..s]
            }
        });
        Ok::<_, crate::error::CaligError>(chunk::forward(
            stack,
            &h[first * s * d..(first + rows) * s * d],
            rows,
            s,
            m,
        ))
    })?;
    let t = stack.readout_tokens(s);
    let all: Vec<&[T]> = parts.iter().map(|p| &p[..]).collect();
    Ok(Tensor::from_vec(all.concat(), (b, t, d), h0.device())?)
}

#[cfg(test)]
mod tests {
    use super::Real;

    #[test]
    fn fast_f32_exp_and_erf_are_accurate() {
        let mut worst = (0.0f64, 0.0f64);
        for i in -20_000..=20_000 {
            // The exact value at the f32 input, so that only the function's error is measured.
            let x = (i as f64 * 0.0043) as f32 as f64; // −86 .. 86
            let e = (x as f32).exp_fast() as f64;
            worst.0 = worst.0.max(((e - x.exp()) / x.exp()).abs());
            let y = (x / 10.0) as f32 as f64; // −8.6 .. 8.6
            let g = (-(y * y) as f32).exp_fast();
            worst.1 = worst
                .1
                .max(((y as f32).erf_given_gauss(g) as f64 - libm::erf(y)).abs());
        }
        assert!(worst.0 < 3e-7, "exp relative error {:.2e}", worst.0);
        assert!(worst.1 < 1e-6, "erf absolute error {:.2e}", worst.1);
        assert!(f32::NAN.exp_fast().is_nan());
    }
}
