//! Row-wise kernels with closed-form backward passes: LayerNorm, the hidden activations and
//! the softmax. Each forward keeps exactly what its backward reads.

use super::buffer::Buf;
use super::Real;

/// Hidden activations named by Hugging Face configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Exact erf GELU (HF "gelu").
    Gelu,
    /// tanh approximation (HF "gelu_new", "gelu_pytorch_tanh", "gelu_fast").
    GeluTanh,
    Relu,
}

impl Activation {
    pub fn from_hf(name: &str) -> std::result::Result<Self, String> {
        match name {
            "gelu" | "gelu_python" => Ok(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Self::GeluTanh),
            "relu" => Ok(Self::Relu),
            other => Err(format!("unsupported hidden activation `{other}`")),
        }
    }
}

/// What the LayerNorm backward needs: the normalised rows x̂ and 1/σ per row.
pub struct NormCache<T: Real> {
    pub xhat: Buf<T>,
    pub rstd: Vec<T>,
}

/// y = x̂ ⊙ γ + β per row of width `gamma.len()`, x̂ = (x − mean) / sqrt(var + eps).
pub fn layer_norm<T: Real>(x: &[T], gamma: &[T], beta: &[T], eps: T) -> (Buf<T>, NormCache<T>) {
    let n = gamma.len();
    let nf = T::from(n).expect("width fits the float type");
    let mut y = Buf::scratch(x.len());
    let mut xhat = Buf::scratch(x.len());
    let mut rstd = Vec::with_capacity(x.len() / n);
    for ((row, out), hat) in x.chunks(n).zip(y.chunks_mut(n)).zip(xhat.chunks_mut(n)) {
        let mean = row.iter().fold(T::zero(), |s, &v| s + v) / nf;
        let var = row
            .iter()
            .fold(T::zero(), |s, &v| s + (v - mean) * (v - mean))
            / nf;
        let r = T::one() / (var + eps).sqrt();
        for j in 0..n {
            hat[j] = (row[j] - mean) * r;
            out[j] = hat[j] * gamma[j] + beta[j];
        }
        rstd.push(r);
    }
    (y, NormCache { xhat, rstd })
}

/// dx = (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)) / σ with ĝ = dy ⊙ γ.
pub fn layer_norm_backward<T: Real>(cache: &NormCache<T>, gamma: &[T], dy: &[T]) -> Buf<T> {
    let n = gamma.len();
    let nf = T::from(n).expect("width fits the float type");
    let mut dx = Buf::scratch(dy.len());
    for (((g, hat), out), &r) in dy
        .chunks(n)
        .zip(cache.xhat.chunks(n))
        .zip(dx.chunks_mut(n))
        .zip(&cache.rstd)
    {
        let (mut sum_g, mut sum_gx) = (T::zero(), T::zero());
        for j in 0..n {
            let gh = g[j] * gamma[j];
            sum_g += gh;
            sum_gx += gh * hat[j];
        }
        let (mean_g, mean_gx) = (sum_g / nf, sum_gx / nf);
        for j in 0..n {
            out[j] = (g[j] * gamma[j] - mean_g - hat[j] * mean_gx) * r;
        }
    }
    dx
}

/// Adds `bias` to every row of `y`.
pub fn add_bias<T: Real>(y: &mut [T], bias: &[T]) {
    for row in y.chunks_mut(bias.len()) {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

/// y += x elementwise.
pub fn add_into<T: Real>(y: &mut [T], x: &[T]) {
    for (v, &a) in y.iter_mut().zip(x) {
        *v += a;
    }
}

/// (erf(v/√2), e^{−v²/2}) for the exact GELU and its derivative.
#[inline(always)]
fn gelu_erf<T: Real>(v: T) -> (T, T) {
    let half = T::from(0.5).expect("0.5");
    let u = v * T::from(std::f64::consts::FRAC_1_SQRT_2).expect("constant");
    let gauss = (-half * v * v).exp_fast();
    (u.erf_given_gauss(gauss), gauss)
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_TANH_C: f64 = 0.044_715;

/// The activation applied elementwise.
pub fn activate<T: Real>(act: Activation, x: &[T]) -> Buf<T> {
    let half = T::from(0.5).expect("0.5");
    let mut y = Buf::scratch(x.len());
    let out = y.iter_mut().zip(x);
    match act {
        Activation::Gelu => out.for_each(|(y, &v)| *y = half * v * (T::one() + gelu_erf(v).0)),
        Activation::GeluTanh => {
            let (c, k) = (
                T::from(SQRT_2_OVER_PI).expect("constant"),
                T::from(GELU_TANH_C).expect("constant"),
            );
            out.for_each(|(y, &v)| *y = half * v * (T::one() + (c * (v + k * v * v * v)).tanh()))
        }
        Activation::Relu => out.for_each(|(y, &v)| *y = num_traits::Float::max(v, T::zero())),
    }
    y
}

/// g ← g ⊙ f'(x) for the activation's input x.
pub fn activation_backward<T: Real>(act: Activation, x: &[T], g: &mut [T]) {
    let half = T::from(0.5).expect("0.5");
    match act {
        Activation::Gelu => {
            let inv_sqrt_2pi = T::from(0.398_942_280_401_432_7).expect("constant");
            for (g, &v) in g.iter_mut().zip(x) {
                let (erf, gauss) = gelu_erf(v);
                *g *= half * (T::one() + erf) + v * gauss * inv_sqrt_2pi;
            }
        }
        Activation::GeluTanh => {
            let (c, k) = (
                T::from(SQRT_2_OVER_PI).expect("constant"),
                T::from(GELU_TANH_C).expect("constant"),
            );
            let three = T::from(3.0).expect("3");
            for (g, &v) in g.iter_mut().zip(x) {
                let t = (c * (v + k * v * v * v)).tanh();
                let du = c * (T::one() + three * k * v * v);
                *g *= half * (T::one() + t) + half * v * (T::one() - t * t) * du;
            }
        }
        Activation::Relu => {
            for (g, &v) in g.iter_mut().zip(x) {
                if v <= T::zero() {
                    *g = T::zero();
                }
            }
        }
    }
}

/// In-place softmax of one row.
pub fn softmax_row<T: Real>(row: &mut [T]) {
    let max = row
        .iter()
        .fold(T::neg_infinity(), |m, &v| num_traits::Float::max(m, v));
    let mut sum = T::zero();
    for v in row.iter_mut() {
        *v = (*v - max).exp_fast();
        sum += *v;
    }
    let inv = T::one() / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// g ← y ⊙ (g − Σ_j g_j y_j) for one softmax row with output y.
pub fn softmax_row_backward<T: Real>(y: &[T], g: &mut [T]) {
    let dot = y
        .iter()
        .zip(g.iter())
        .fold(T::zero(), |s, (&a, &b)| s + a * b);
    for (g, &y) in g.iter_mut().zip(y) {
        *g = y * (*g - dot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central finite difference of Σ probe ⊙ f(x) against the closed-form backward.
    fn check(
        f: impl Fn(&[f64]) -> Vec<f64>,
        backward: impl Fn(&[f64], &[f64]) -> Vec<f64>,
        x: &[f64],
        what: &str,
    ) {
        let probe: Vec<f64> = (0..x.len()).map(|i| ((i * 7 % 5) as f64) - 1.7).collect();
        let objective = |x: &[f64]| -> f64 { f(x).iter().zip(&probe).map(|(a, b)| a * b).sum() };
        let grad = backward(x, &probe);
        for i in 0..x.len() {
            let h = 1e-6;
            let (mut up, mut down) = (x.to_vec(), x.to_vec());
            up[i] += h;
            down[i] -= h;
            let fd = (objective(&up) - objective(&down)) / (2.0 * h);
            assert!(
                (fd - grad[i]).abs() < 1e-6,
                "{what}: element {i}: finite difference {fd}, backward {}",
                grad[i]
            );
        }
    }

    fn input() -> Vec<f64> {
        // Offset so that no element sits on the ReLU kink.
        (0..12)
            .map(|i| ((i as f64) * 1.3).sin() * 2.0 + 0.1)
            .collect()
    }

    #[test]
    fn layer_norm_backward_matches_finite_differences() {
        let gamma = [1.0, 0.5, -2.0, 1.5];
        let beta = [0.1, 0.0, -0.3, 0.2];
        check(
            |x| layer_norm(x, &gamma, &beta, 1e-12).0.to_vec(),
            |x, g| layer_norm_backward(&layer_norm(x, &gamma, &beta, 1e-12).1, &gamma, g).to_vec(),
            &input(),
            "layer norm",
        );
    }

    #[test]
    fn activations_backward_match_finite_differences() {
        for act in [Activation::Gelu, Activation::GeluTanh, Activation::Relu] {
            check(
                |x| activate(act, x).to_vec(),
                |x, g| {
                    let mut g = g.to_vec();
                    activation_backward(act, x, &mut g);
                    g
                },
                &input(),
                &format!("{act:?}"),
            );
        }
        // Exact GELU at a known point: 0.5 · 1 · (1 + erf(1/√2)) = 0.841344746...
        assert!((activate(Activation::Gelu, &[1.0f64])[0] - 0.841_344_746_068_543).abs() < 1e-12);
    }

    #[test]
    fn softmax_backward_matches_finite_differences() {
        let rows = |x: &[f64]| {
            let mut y = x.to_vec();
            y.chunks_mut(4).for_each(softmax_row);
            y
        };
        check(
            rows,
            |x, g| {
                let y = rows(x);
                let mut g = g.to_vec();
                for (yr, gr) in y.chunks(4).zip(g.chunks_mut(4)) {
                    softmax_row_backward(yr, gr);
                }
                g
            },
            &input(),
            "softmax",
        );
    }
}
