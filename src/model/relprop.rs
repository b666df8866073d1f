//! Explicit LRP with the rules of Chefer, Gur & Wolf (CVPR 2021, "Transformer Interpretability
//! Beyond Attention Visualization"), as their released code applies them: relevance tensors are
//! carried from the target class down through the head and every block, and each block's
//! attention relevance R_A is recorded on the way (the `chefer2021` method rolls those out).
//!
//! Rules (all bias-free, stabilised by their `safe_divide`, a / (b + 1e-9) where b ≠ 0, else 0):
//! - linear layers: LRP-αβ with α = 1, β = 0 (the z⁺ rule over x⁺W⁺ and x⁻W⁻);
//! - LayerNorm, GELU/ReLU/tanh, softmax, dropout: relevance passes unchanged;
//! - additions (residuals, the attention mask): each operand's x ⊙ (R / (a + b)), then both
//!   rescaled so that they share ΣR in proportion to their absolute totals;
//! - the products Q·Kᵀ and A·V: each operand x ⊙ ∂(Z·S)/∂x with S = R / Z, then halved;
//! - a tensor used several times (the block input feeding Q, K, V and the residual): the sum.

use super::block::{merge_heads, Block, Norm, SelfAttention};
use super::linear::{matmul_2d, Linear};
use candle_core::{IndexOp, Module, Result, Tensor, D};

/// What one relevance pass records, for a batch of one.
pub struct LrpRelevance {
    /// At h^(0) .. h^(L), (s, d) each; each sums to ≈ 1 (the one-hot start), the z⁺ rule
    /// losing only what has no positive contribution.
    pub hidden: Vec<Tensor>,
    /// At every block's attention probabilities, (heads, s, s) each.
    pub attention: Vec<Tensor>,
}

/// a / b with Chefer's stabiliser: a / (b + 1e-9), or + 2e-9 where b = −1e-9; 0 where b = 0.
pub fn safe_divide(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let den = (b + 1e-9)?;
    let den = (&den + (den.eq(0.0)?.to_dtype(b.dtype())? * 1e-9)?)?;
    let nonzero = b.ne(0.0)?.to_dtype(b.dtype())?;
    a.broadcast_div(&den)?.broadcast_mul(&nonzero)
}

fn safe_divide_scalar(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        return 0.0;
    }
    let den = b + 1e-9;
    a / if den == 0.0 { den + 1e-9 } else { den }
}

fn total(t: &Tensor) -> Result<f64> {
    t.sum_all()?.to_dtype(candle_core::DType::F64)?.to_scalar()
}

/// Relevance at the input x of a linear layer (bias ignored) from the relevance at its output.
pub fn linear_rule(layer: &Linear, x: &Tensor, r: &Tensor) -> Result<Tensor> {
    let w = layer.weight();
    let (w_pos, w_neg) = (w.relu()?, w.minimum(0.0)?);
    let (x_pos, x_neg) = (x.relu()?, x.minimum(0.0)?);
    let z = (matmul_2d(&x_pos, &w_pos.t()?)? + matmul_2d(&x_neg, &w_neg.t()?)?)?;
    let s = safe_divide(r, &z)?;
    x_pos.mul(&matmul_2d(&s, &w_pos)?)? + x_neg.mul(&matmul_2d(&s, &w_neg)?)?
}

/// Relevance of the two operands of a + b (`b` may broadcast, as the attention mask does).
pub fn add_rule(a: &Tensor, b: &Tensor, r: &Tensor) -> Result<(Tensor, Tensor)> {
    let b = b.broadcast_as(a.shape())?;
    let s = safe_divide(r, &(a + &b)?)?;
    let (ra, rb) = (a.mul(&s)?, b.mul(&s)?);
    let (a_sum, b_sum, r_sum) = (total(&ra)?, total(&rb)?, total(r)?);
    let share = |x: f64| safe_divide_scalar(x.abs(), a_sum.abs() + b_sum.abs()) * r_sum;
    let ra = (ra * safe_divide_scalar(share(a_sum), a_sum))?;
    let rb = (rb * safe_divide_scalar(share(b_sum), b_sum))?;
    Ok((ra, rb))
}

/// Relevance of the operands of x1 · x2 (batched matrix product), each halved.
pub fn product_rule(x1: &Tensor, x2: &Tensor, r: &Tensor) -> Result<(Tensor, Tensor)> {
    let s = safe_divide(r, &x1.matmul(x2)?)?;
    let r1 = x1.mul(&s.matmul(&x2.t()?)?)?;
    let r2 = x2.mul(&x1.t()?.matmul(&s)?)?;
    Ok(((r1 * 0.5)?, (r2 * 0.5)?))
}

/// Relevance of a tensor x used several times, from the relevance of each use.
pub fn fan_in_rule(x: &Tensor, uses: &[&Tensor]) -> Result<Tensor> {
    let mut acc = safe_divide(uses[0], x)?;
    for r in &uses[1..] {
        acc = (acc + safe_divide(r, x)?)?;
    }
    x.mul(&acc)
}

/// Relevance of h (b, s, d) from the relevance of its first token h[:, 0] (b, d).
pub fn first_token_rule(h: &Tensor, r: &Tensor) -> Result<Tensor> {
    let (b, s, d) = h.dims3()?;
    let first = h.i((.., 0, ..))?;
    let r0 = first.mul(&safe_divide(r, &first)?)?.unsqueeze(1)?;
    let rest = Tensor::zeros((b, s - 1, d), h.dtype(), h.device())?;
    Tensor::cat(&[&r0, &rest], 1)
}

/// Relevance of h (b, s, d) from that of the mean of its patch rows h[:, 1..].mean(1) (b, d).
pub fn patch_mean_rule(h: &Tensor, r: &Tensor) -> Result<Tensor> {
    let (b, s, d) = h.dims3()?;
    let patches = h.narrow(1, 1, s - 1)?;
    let s_ = (safe_divide(r, &patches.mean(1)?)? / (s - 1) as f64)?;
    let rp = patches.broadcast_mul(&s_.unsqueeze(1)?)?;
    let cls = Tensor::zeros((b, 1, d), h.dtype(), h.device())?;
    Tensor::cat(&[&cls, &rp], 1)
}

/// The forward values of one attention layer that its relevance rules read.
pub struct AttentionPass {
    /// Heads split: (b, heads, s, hd); `kt` is Kᵀ (b, heads, hd, s).
    q: Tensor,
    kt: Tensor,
    v: Tensor,
    /// Q·Kᵀ / √d before the mask, and the probabilities.
    scaled: Tensor,
    probs: Tensor,
    /// Heads merged, (b, s, d); `out` is the output projection's output.
    ctx: Tensor,
    pub out: Tensor,
}

impl SelfAttention {
    /// The forward pass on x (b, s, d), keeping what `relprop` needs.
    pub fn pass(&self, x: &Tensor, mask_bias: Option<&Tensor>) -> Result<AttentionPass> {
        let hd = x.dim(D::Minus1)? / self.num_heads;
        let q = self.split_heads(&self.query.forward(x)?)?;
        let kt = self.split_heads(&self.key.forward(x)?)?.t()?.contiguous()?;
        let v = self.split_heads(&self.value.forward(x)?)?;
        let scaled = (q.matmul(&kt)? / (hd as f64).sqrt())?;
        let scores = match mask_bias {
            Some(bias) => scaled.broadcast_add(bias)?,
            None => scaled.clone(),
        };
        let probs = super::fused::softmax_last_dim(&scores)?;
        let ctx = merge_heads(&probs.matmul(&v)?)?;
        let out = self.output.forward(&ctx)?;
        Ok(AttentionPass {
            q,
            kt,
            v,
            scaled,
            probs,
            ctx,
            out,
        })
    }

    /// Relevance at the attention input x (b, s, d) and at the attention probabilities
    /// (b, heads, s, s), from the relevance at the output projection's output; `pass` is
    /// [`SelfAttention::pass`] on x.
    pub fn relprop(
        &self,
        x: &Tensor,
        pass: &AttentionPass,
        mask_bias: Option<&Tensor>,
        r_out: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let r_ctx = self.split_heads(&linear_rule(&self.output, &pass.ctx, r_out)?)?;
        let (r_probs, r_v) = product_rule(&pass.probs, &pass.v, &r_ctx)?;
        // Softmax passes relevance unchanged; the mask is an addition with the scores.
        let r_scores = match mask_bias {
            Some(bias) => add_rule(&pass.scaled, bias, &r_probs)?.0,
            None => r_probs.clone(),
        };
        // The 1/√d scaling is not a rule of its own: Q·Kᵀ takes the scores' relevance.
        let (r_q, r_kt) = product_rule(&pass.q, &pass.kt, &r_scores)?;
        let r_xq = linear_rule(&self.query, x, &merge_heads(&r_q)?)?;
        let r_xk = linear_rule(&self.key, x, &merge_heads(&r_kt.t()?)?)?;
        let r_xv = linear_rule(&self.value, x, &merge_heads(&r_v)?)?;
        Ok((fan_in_rule(x, &[&r_xq, &r_xk, &r_xv])?, r_probs))
    }
}

impl Block {
    /// Relevance at the block input x and at the attention probabilities, from the relevance
    /// at the block output.
    pub fn relprop(
        &self,
        x: &Tensor,
        mask_bias: Option<&Tensor>,
        r_out: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let ffn_parts = |t: &Tensor| -> Result<(Tensor, Tensor)> {
            let hidden = self.activation.forward(&self.ffn_in.forward(t)?)?;
            let out = self.ffn_out.forward(&hidden)?;
            Ok((hidden, out))
        };
        // FFN relevance: the output layer, the activation (unchanged), the input layer.
        let ffn_rule = |t: &Tensor, hidden: &Tensor, r: &Tensor| -> Result<Tensor> {
            let r_hidden = linear_rule(&self.ffn_out, hidden, r)?;
            linear_rule(&self.ffn_in, t, &r_hidden)
        };
        match self.norm {
            Norm::Post => {
                let pass = self.attention.pass(x, mask_bias)?;
                let att = &pass.out;
                let a = self.attention_norm.forward(&(att + x)?)?;
                let (hidden, f) = ffn_parts(&a)?;
                // Both LayerNorms pass relevance unchanged.
                let (r_f, r_a_residual) = add_rule(&f, &a, r_out)?;
                let r_a_ffn = ffn_rule(&a, &hidden, &r_f)?;
                let r_a = fan_in_rule(&a, &[&r_a_ffn, &r_a_residual])?;
                let (r_att, r_x_residual) = add_rule(att, x, &r_a)?;
                let (r_x_att, r_probs) = self.attention.relprop(x, &pass, mask_bias, &r_att)?;
                Ok((fan_in_rule(x, &[&r_x_att, &r_x_residual])?, r_probs))
            }
            Norm::Pre => {
                let xn = self.attention_norm.forward(x)?;
                let pass = self.attention.pass(&xn, mask_bias)?;
                let att = &pass.out;
                let a = (att + x)?;
                let an = self.ffn_norm.forward(&a)?;
                let (hidden, f) = ffn_parts(&an)?;
                let (r_a_residual, r_f) = add_rule(&a, &f, r_out)?;
                let r_a_ffn = ffn_rule(&an, &hidden, &r_f)?;
                let r_a = fan_in_rule(&a, &[&r_a_residual, &r_a_ffn])?;
                let (r_x_residual, r_att) = add_rule(x, att, &r_a)?;
                let (r_x_att, r_probs) = self.attention.relprop(&xn, &pass, mask_bias, &r_att)?;
                Ok((fan_in_rule(x, &[&r_x_residual, &r_x_att])?, r_probs))
            }
        }
    }
}

/// One-hot relevance (1, classes) at the target logit.
pub fn target_relevance(logits: &Tensor, target: usize) -> Result<Tensor> {
    let classes = logits.dim(D::Minus1)?;
    let mut v = vec![0f64; classes];
    v[target] = 1.0;
    Tensor::from_vec(v, (1, classes), logits.device())?.to_dtype(logits.dtype())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn safe_divide_matches_its_definition() -> Result<()> {
        let dev = Device::Cpu;
        let a = Tensor::new(&[1.0f64, 1.0, 1.0, 2.0], &dev)?;
        let b = Tensor::new(&[0.0f64, -1e-9, 2.0, -4.0], &dev)?;
        let got = safe_divide(&a, &b)?.to_vec1::<f64>()?;
        assert_eq!(got[0], 0.0);
        assert_eq!(got[1], 1.0 / 1e-9);
        assert_eq!(got[2], 1.0 / (2.0 + 1e-9));
        assert_eq!(got[3], 2.0 / (-4.0 + 1e-9));
        Ok(())
    }

    #[test]
    fn linear_rule_conserves_positive_relevance() -> Result<()> {
        // z⁺ rule: with every contribution counted, Σ R_in = Σ R_out where Z ≠ 0.
        let dev = Device::Cpu;
        let layer = Linear::new(
            Tensor::new(&[[1.0f64, -2.0, 0.5], [0.3, 0.4, -1.0]], &dev)?,
            None,
        );
        let x = Tensor::new(&[[0.5f64, -1.0, 2.0]], &dev)?;
        let r = Tensor::new(&[[0.7f64, 0.3]], &dev)?;
        let r_in = linear_rule(&layer, &x, &r)?;
        assert!((total(&r_in)? - 1.0).abs() < 1e-8);
        // Only positive contributions x_i·w_ji count: output 0 has 0.5, 2.0 and 1.0; output 1
        // only 0.15 (x1·w11 = −0.4 and x2·w12 = −2 are dropped).
        let r0 = r_in.to_vec2::<f64>()?[0].clone();
        let (z0, z1) = (3.5, 0.15);
        let want = [
            0.7 * 0.5 / z0 + 0.3 * 0.15 / z1,
            0.7 * 2.0 / z0,
            0.7 * 1.0 / z0,
        ];
        for (g, w) in r0.iter().zip(want) {
            assert!((g - w).abs() < 1e-8, "{g} vs {w}");
        }
        Ok(())
    }

    #[test]
    fn add_rule_shares_the_total_by_absolute_contribution() -> Result<()> {
        let dev = Device::Cpu;
        let a = Tensor::new(&[3.0f64, 1.0], &dev)?;
        let b = Tensor::new(&[1.0f64, -1.0], &dev)?;
        let r = Tensor::new(&[2.0f64, 0.0], &dev)?;
        let (ra, rb) = add_rule(&a, &b, &r)?;
        let (sa, sb) = (total(&ra)?, total(&rb)?);
        assert!((sa + sb - 2.0).abs() < 1e-8);
        // Before rescaling: a gets 3/4 · 2 = 1.5, b gets 0.5; shares 0.75 and 0.25 of ΣR.
        assert!(
            (sa - 1.5).abs() < 1e-8 && (sb - 0.5).abs() < 1e-8,
            "{sa} {sb}"
        );
        Ok(())
    }
}
