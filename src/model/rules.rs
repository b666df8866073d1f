//! Backward rules: what an op passes back to its inputs. Under [`Rules::Gradient`] every op
//! passes the true derivative. Under [`Rules::AttnLrp`] the ops that are not linear pass the
//! AttnLRP rules (Achtibat et al., ICML 2024) in the gradient × input form that LXT's
//! "efficient" mode uses, so that (modified gradient) ⊙ (input) at any point of the network is
//! its LRP relevance:
//! - elementwise nonlinearities (GELU, ReLU, tanh): the identity rule, g ⊙ f(x) / x;
//! - the products Q·Kᵀ and A·V: the uniform rule, each operand gets half (g / 2 at the product);
//! - LayerNorm: the identity rule on the normalisation, i.e. the standard deviation held
//!   constant (the mean subtraction is linear and keeps its gradient);
//! - softmax: its plain gradient is AttnLRP's softmax rule once written in this form
//!   (R_in = x ⊙ (R_out − s Σ R_out) with R_out = s ⊙ g); linear layers and additions keep
//!   their gradient (the ε-rule with ε → 0, biases absorbing their share).
//!
//! Forward values are identical under both rule sets: each rule only changes the backward.

use candle_core::{Result, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rules {
    #[default]
    Gradient,
    AttnLrp,
}

/// x forward; the gradient scaled by `factor` backward. `factor` must be 1/2ᵏ: the forward
/// value f·x + (1 − f)·x (second term detached) is then exactly x in binary floating point.
pub fn scale_gradient(x: &Tensor, factor: f64) -> Result<Tensor> {
    (x * factor)? + (x.detach() * (1.0 - factor))?
}

/// The uniform rule on a product of two operands: the value unchanged, half the gradient.
pub fn uniform(product: &Tensor, rules: Rules) -> Result<Tensor> {
    match rules {
        Rules::Gradient => Ok(product.clone()),
        Rules::AttnLrp => scale_gradient(product, 0.5),
    }
}

/// The identity rule for y = f(x) elementwise: y forward, g ⊙ y / (x + 1e-10) backward (LXT's
/// ε), with 0 where that ratio is not finite. The forward value stays y exactly because
/// x − x̄ (x̄ detached) is exactly 0.
pub fn identity_rule(x: &Tensor, y: &Tensor, rules: Rules) -> Result<Tensor> {
    if rules == Rules::Gradient {
        return Ok(y.clone());
    }
    let y_value = y.detach();
    let ratio = (&y_value / (x.detach() + 1e-10)?)?;
    let finite = ratio.abs()?.le(f64::MAX)?;
    let ratio = finite.where_cond(&ratio, &ratio.zeros_like()?)?;
    y_value + (x - x.detach())?.mul(&ratio)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn grad_of(x: &Var, y: &Tensor, g: &Tensor) -> Vec<f64> {
        let grads = (y * g).unwrap().sum_all().unwrap().backward().unwrap();
        grads.get(x.as_tensor()).unwrap().to_vec1().unwrap()
    }

    #[test]
    fn uniform_halves_the_gradient_and_keeps_the_value() -> Result<()> {
        let x = Var::from_vec(vec![0.1f64, -3.0, 7.25, 1e-30], 4, &Device::Cpu)?;
        let y = uniform(x.as_tensor(), Rules::AttnLrp)?;
        assert_eq!(
            y.to_vec1::<f64>()?,
            x.as_tensor().to_vec1::<f64>()?,
            "value changed"
        );
        let g = Tensor::new(&[1.0f64, 2.0, -4.0, 8.0], &Device::Cpu)?;
        assert_eq!(grad_of(&x, &y, &g), vec![0.5, 1.0, -2.0, 4.0]);
        Ok(())
    }

    #[test]
    fn identity_rule_passes_relevance_unchanged() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_vec(vec![-1.5f64, -0.2, 0.0, 0.3, 2.0], 5, &dev)?;
        let y = x.as_tensor().gelu_erf()?;
        let out = identity_rule(x.as_tensor(), &y, Rules::AttnLrp)?;
        assert_eq!(out.to_vec1::<f64>()?, y.to_vec1::<f64>()?, "value changed");
        // Relevance in = x ⊙ grad = y ⊙ g = relevance out, wherever x is not 0.
        let g = Tensor::new(&[0.7f64, -1.0, 3.0, 2.0, 0.5], &dev)?;
        let grad = grad_of(&x, &out, &g);
        let xs = x.as_tensor().to_vec1::<f64>()?;
        let ys = y.to_vec1::<f64>()?;
        let gs = g.to_vec1::<f64>()?;
        for i in 0..5 {
            assert!(grad[i].is_finite());
            assert!(
                (xs[i] * grad[i] - ys[i] * gs[i]).abs() < 1e-9,
                "position {i}"
            );
        }
        // Under the gradient rules the derivative is untouched.
        let plain = identity_rule(x.as_tensor(), &y, Rules::Gradient)?;
        let d = grad_of(&x, &plain, &g);
        assert!(
            (d[4] - 0.5 * 1.085232).abs() < 1e-5,
            "gelu'(2) · 0.5 = {}",
            d[4]
        );
        Ok(())
    }
}
