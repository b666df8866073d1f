//! Decoder classifiers: `LlamaForSequenceClassification`, `Qwen2ForSequenceClassification`
//! and `MistralForSequenceClassification` (one block covers the three): token embeddings
//! (h^(0) = E, no position table), pre-norm blocks with RMSNorm, rotary positions, grouped-query
//! attention under a causal mask and a SwiGLU unit, then the head: the final RMSNorm and the
//! bias-free `score` projection at the last token.
//!
//! The head reads the last position of the row. Batches are padded on the left (text.rs), so
//! that position is every row's last real token, as transformers' "last non-pad token" is;
//! rotary positions run 0..s−1 over the padded row: left pads shift every real position by the
//! same amount, which rotary attention does not see (it depends on position differences only).
//! Under AttnLRP (rules.rs) RMSNorm holds its root mean square constant, SiLU passes relevance by
//! the identity rule and the gate's product splits it uniformly, as LXT's Llama patch does;
//! the rotary rotation is linear and keeps its gradient.

use super::bert::text_of;
use super::block::{merge_heads, run_suffix, BlocksOutput};
use super::config::{DecoderConfig, Rope, RopeScaling};
use super::fused::softmax_last_dim;
use super::linear::Linear;
use super::ops::{Activation, LayerNorm};
use super::rules::{identity_rule, uniform, Rules};
use super::{relprop, Encoder, ModelConfig, ModelInput};
use crate::error::{CaligError, Result};
use crate::runtime::Runtime;
use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{Embedding, VarBuilder};

/// RMSNorm: x / sqrt(mean(x²) + ε) ⊙ w, computed in the model's dtype.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    pub fn load(vb: VarBuilder, size: usize, eps: f64) -> candle_core::Result<Self> {
        Ok(Self {
            weight: vb.get(size, "weight")?,
            eps,
        })
    }

    /// Under AttnLRP the root mean square is held constant in the backward pass.
    pub fn forward_with(&self, x: &Tensor, rules: Rules) -> candle_core::Result<Tensor> {
        let rms = (x.sqr()?.mean_keepdim(D::Minus1)? + self.eps)?.sqrt()?;
        let rms = if rules == Rules::AttnLrp {
            rms.detach()
        } else {
            rms
        };
        x.broadcast_div(&rms)?.broadcast_mul(&self.weight)
    }
}

/// The norm in front of a pre-norm block's attention or gated unit: RMSNorm (Llama, Qwen2,
/// Mistral), LayerNorm, possibly bias-free (ModernBERT), or none (ModernBERT's first layer).
#[derive(Debug, Clone)]
pub enum PreNorm {
    Rms(RmsNorm),
    Layer(LayerNorm),
    Identity,
}

impl PreNorm {
    /// Under AttnLRP the norm's scale (root mean square, standard deviation) is held constant.
    pub fn forward_with(&self, x: &Tensor, rules: Rules) -> candle_core::Result<Tensor> {
        match self {
            Self::Rms(n) => n.forward_with(x, rules),
            Self::Layer(n) => n.forward_with(x, rules),
            Self::Identity => Ok(x.clone()),
        }
    }
}

/// Inverse frequencies of the rotary embedding, in f64, by the checkpoint's rope type.
pub fn inverse_frequencies(rope: &Rope, head_dim: usize) -> Vec<f64> {
    let d = head_dim;
    let base: Vec<f64> = (0..d / 2)
        .map(|i| 1.0 / rope.theta.powf((2 * i) as f64 / d as f64))
        .collect();
    match rope.scaling {
        RopeScaling::Default => base,
        RopeScaling::Linear { factor } => base.iter().map(|f| f / factor).collect(),
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings: original,
        } => {
            let low_wavelen = original / low_freq_factor;
            let high_wavelen = original / high_freq_factor;
            base.iter()
                .map(|&f| {
                    let wavelen = 2.0 * std::f64::consts::PI / f;
                    if wavelen > low_wavelen {
                        f / factor
                    } else if wavelen < high_wavelen {
                        f
                    } else {
                        let smooth = (original / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        (1.0 - smooth) * f / factor + smooth * f
                    }
                })
                .collect()
        }
    }
}

/// cos and sin of the rotary angles for positions 0..s−1, (1, 1, s, head_dim) each: angles in
/// f64, then the model's dtype.
fn rotary_tables(
    inv_freq: &[f64],
    s: usize,
    dtype: DType,
    device: &Device,
) -> candle_core::Result<(Tensor, Tensor)> {
    let half = inv_freq.len();
    let (mut cos, mut sin) = (
        Vec::with_capacity(s * 2 * half),
        Vec::with_capacity(s * 2 * half),
    );
    for p in 0..s {
        for _ in 0..2 {
            for f in inv_freq {
                let angle = p as f64 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
    }
    let table = |v: Vec<f64>| Tensor::from_vec(v, (1, 1, s, 2 * half), device)?.to_dtype(dtype);
    Ok((table(cos)?, table(sin)?))
}

/// x·cos + rotate_half(x)·sin, rotate_half(x) = (−x₂, x₁) over the head dimension's halves.
fn rotate(x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
    let half = x.dim(D::Minus1)? / 2;
    let x1 = x.narrow(D::Minus1, 0, half)?;
    let x2 = x.narrow(D::Minus1, half, half)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?
}

/// The additive causal mask (1, 1, s, s): 0 on and below the diagonal, −1e4 above (as
/// ops::mask_bias masks padding); with a sliding window, also −1e4 beyond it.
pub(crate) fn causal_bias(
    s: usize,
    window: Option<usize>,
    dtype: DType,
    device: &Device,
) -> candle_core::Result<Tensor> {
    attention_bias(s, dtype, device, |q, key| {
        key > q || window.is_some_and(|w| q - key >= w)
    })
}

/// An additive mask (1, 1, s, s): −1e4 where `outside(query, key)`, else 0.
pub(crate) fn attention_bias(
    s: usize,
    dtype: DType,
    device: &Device,
    outside: impl Fn(usize, usize) -> bool,
) -> candle_core::Result<Tensor> {
    let v: Vec<f64> = (0..s * s)
        .map(|k| if outside(k / s, k % s) { -1e4 } else { 0.0 })
        .collect();
    Tensor::from_vec(v, (1, 1, s, s), device)?.to_dtype(dtype)
}

/// The row of the last token of h (b, s, d): (b, d), what a decoder's head reads.
pub(crate) fn last_row(h: &Tensor) -> candle_core::Result<Tensor> {
    let s = h.dim(1)?;
    h.narrow(1, s - 1, 1)?.squeeze(1)
}

/// What a decoder answers when asked for an encoder's first-token readout block.
pub(crate) fn no_readout_block(model_type: &str) -> CaligError {
    CaligError::Internal(format!(
        "a first-token readout block asked of a {model_type} decoder"
    ))
}

/// chefer2021 on a decoder: its rules are the encoder block's, read at the first token.
pub(crate) fn no_chefer2021(model_type: &str) -> CaligError {
    CaligError::Unsupported(format!(
        "chefer2021 has no LRP rules for {model_type} blocks and heads (written for encoders \
         read at the first token); use attnlrp, which covers them"
    ))
}

/// Self-attention with grouped key/value heads and rotary queries and keys.
#[derive(Debug, Clone)]
pub struct DecoderAttention {
    pub(crate) query: Linear,
    pub(crate) key: Linear,
    pub(crate) value: Linear,
    pub(crate) output: Linear,
    pub(crate) heads: usize,
    pub(crate) kv_heads: usize,
    pub(crate) head_dim: usize,
}

/// Per-call constants of a sequence: rotary tables and the additive bias (causal or windowed,
/// plus the padding).
pub(crate) struct Sequence {
    cos: Tensor,
    sin: Tensor,
    bias: Tensor,
}

impl Sequence {
    /// The rotary tables of `inv_freq` for `h`'s length, and `bias` plus `mask_bias`.
    pub(crate) fn new(
        inv_freq: &[f64],
        h: &Tensor,
        bias: Tensor,
        mask_bias: Option<&Tensor>,
    ) -> candle_core::Result<Self> {
        let (cos, sin) = rotary_tables(inv_freq, h.dim(1)?, h.dtype(), h.device())?;
        let bias = match mask_bias {
            Some(m) => bias.broadcast_add(m)?,
            None => bias,
        };
        Ok(Self { cos, sin, bias })
    }
}

impl DecoderAttention {
    fn split(&self, t: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
        let (b, s, _) = t.dims3()?;
        t.reshape((b, s, heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Key/value heads repeated for the query heads that share them: head i reads group
    /// i / (heads / kv_heads), as transformers' repeat_kv.
    fn repeat(&self, t: &Tensor) -> candle_core::Result<Tensor> {
        let n = self.heads / self.kv_heads;
        if n == 1 {
            return Ok(t.clone());
        }
        let (b, kv, s, d) = t.dims4()?;
        t.unsqueeze(2)?
            .broadcast_as((b, kv, n, s, d))?
            .contiguous()?
            .reshape((b, kv * n, s, d))
    }

    fn forward(
        &self,
        x: &Tensor,
        seq: &Sequence,
        probe: Option<&Tensor>,
        rules: Rules,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let q = rotate(
            &self.split(&self.query.forward(x)?, self.heads)?,
            &seq.cos,
            &seq.sin,
        )?;
        let k = rotate(
            &self.split(&self.key.forward(x)?, self.kv_heads)?,
            &seq.cos,
            &seq.sin,
        )?;
        let v = self.split(&self.value.forward(x)?, self.kv_heads)?;
        let (k, v) = (self.repeat(&k)?, self.repeat(&v)?);
        let scores = (uniform(&q.matmul(&k.t()?)?, rules)? / (self.head_dim as f64).sqrt())?;
        let mut probs = softmax_last_dim(&scores.broadcast_add(&seq.bias)?)?;
        if let Some(p) = probe {
            probs = (probs + p)?;
        }
        let ctx = merge_heads(&uniform(&probs.matmul(&v)?, rules)?)?;
        Ok((self.output.forward(&ctx)?, probs))
    }
}

/// The activation of a gated unit's gate.
#[derive(Debug, Clone, Copy)]
pub enum GateActivation {
    /// SwiGLU (Llama, Qwen2, Mistral).
    Silu,
    /// GeGLU and the like (ModernBERT's `hidden_activation`).
    Other(Activation),
}

/// down(act(gate(x)) ⊙ up(x)): SwiGLU, or ModernBERT's GeGLU (`Wi`'s first half is the
/// activated "input", its second half the "gate" here called up).
#[derive(Debug, Clone)]
pub struct GatedUnit {
    pub(crate) gate: Linear,
    pub(crate) up: Linear,
    pub(crate) down: Linear,
    pub(crate) activation: GateActivation,
}

impl GatedUnit {
    fn forward(&self, x: &Tensor, rules: Rules) -> candle_core::Result<Tensor> {
        let g = self.gate.forward(x)?;
        let value = match self.activation {
            GateActivation::Silu => g.silu()?,
            GateActivation::Other(a) => a.forward(&g)?,
        };
        let activated = identity_rule(&g, &value, rules)?;
        let product = uniform(&(activated * self.up.forward(x)?)?, rules)?;
        self.down.forward(&product)
    }
}

/// A pre-norm block with rotary attention and a gated unit: h = x + attention(norm₁(x));
/// out = h + gated(norm₂(h)). The decoders' block, and ModernBERT's (bidirectional).
#[derive(Debug, Clone)]
pub struct DecoderBlock {
    pub(crate) attention: DecoderAttention,
    pub(crate) attention_norm: PreNorm,
    pub(crate) unit: GatedUnit,
    pub(crate) unit_norm: PreNorm,
}

impl DecoderBlock {
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        seq: &Sequence,
        probe: Option<&Tensor>,
        rules: Rules,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (att, probs) = self.attention.forward(
            &self.attention_norm.forward_with(x, rules)?,
            seq,
            probe,
            rules,
        )?;
        let h = (x + att)?;
        let out = (&h
            + self
                .unit
                .forward(&self.unit_norm.forward_with(&h, rules)?, rules)?)?;
        Ok((out, probs))
    }

    fn load(l: VarBuilder, cfg: &ModelConfig, d: &DecoderConfig) -> candle_core::Result<Self> {
        let hidden = cfg.hidden_size;
        let linear = |name: &str, inputs: usize, outputs: usize, bias: bool| {
            let vb = l.pp(name);
            let weight = vb.get((outputs, inputs), "weight")?;
            let bias = if bias {
                Some(vb.get(outputs, "bias")?)
            } else {
                None
            };
            candle_core::Result::Ok(Linear::new(weight, bias))
        };
        let (q_out, kv_out) = (cfg.num_heads * d.head_dim, d.num_kv_heads * d.head_dim);
        let di = cfg.intermediate_size;
        Ok(Self {
            attention: DecoderAttention {
                query: linear("self_attn.q_proj", hidden, q_out, d.qkv_bias)?,
                key: linear("self_attn.k_proj", hidden, kv_out, d.qkv_bias)?,
                value: linear("self_attn.v_proj", hidden, kv_out, d.qkv_bias)?,
                output: linear("self_attn.o_proj", q_out, hidden, d.output_bias)?,
                heads: cfg.num_heads,
                kv_heads: d.num_kv_heads,
                head_dim: d.head_dim,
            },
            attention_norm: PreNorm::Rms(RmsNorm::load(
                l.pp("input_layernorm"),
                hidden,
                cfg.layer_norm_eps,
            )?),
            unit: GatedUnit {
                gate: linear("mlp.gate_proj", hidden, di, d.mlp_bias)?,
                up: linear("mlp.up_proj", hidden, di, d.mlp_bias)?,
                down: linear("mlp.down_proj", di, hidden, d.mlp_bias)?,
                activation: GateActivation::Silu,
            },
            unit_norm: PreNorm::Rms(RmsNorm::load(
                l.pp("post_attention_layernorm"),
                hidden,
                cfg.layer_norm_eps,
            )?),
        })
    }
}

/// The decoder classifier.
pub struct Decoder {
    config: ModelConfig,
    embed: Embedding,
    blocks: Vec<DecoderBlock>,
    norm: RmsNorm,
    score: Option<Linear>,
    /// `…ForCausalLM`: the next-token logits over the vocabulary (`lm_head`, or the token
    /// embeddings when tied).
    lm_head: Option<Linear>,
    inv_freq: Vec<f64>,
    runtime: Runtime,
}

impl Decoder {
    /// `base` points at `model.` (embed_tokens, layers, norm), `root` at the checkpoint root
    /// (`score`).
    pub fn load(
        base: &VarBuilder,
        root: &VarBuilder,
        cfg: &ModelConfig,
        runtime: &Runtime,
    ) -> candle_core::Result<Self> {
        let d = cfg
            .decoder
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg("not a decoder config".into()))?;
        let blocks = (0..cfg.num_layers)
            .map(|i| DecoderBlock::load(base.pp(format!("layers.{i}")), cfg, d))
            .collect::<candle_core::Result<_>>()?;
        let score = if root.contains_tensor("score.weight") {
            Some(Linear::new(
                root.pp("score")
                    .get((cfg.labels.len(), cfg.hidden_size), "weight")?,
                None,
            ))
        } else {
            None
        };
        let embed = candle_nn::embedding(cfg.vocab_size, cfg.hidden_size, base.pp("embed_tokens"))?;
        let lm_head = if root.contains_tensor("lm_head.weight") {
            Some(Linear::new(
                root.pp("lm_head")
                    .get((cfg.vocab_size, cfg.hidden_size), "weight")?,
                None,
            ))
        } else if score.is_none() && d.tied_lm_head {
            Some(Linear::new(embed.embeddings().clone(), None))
        } else {
            None
        };
        Ok(Self {
            config: cfg.clone(),
            embed,
            blocks,
            norm: RmsNorm::load(base.pp("norm"), cfg.hidden_size, cfg.layer_norm_eps)?,
            score,
            lm_head,
            inv_freq: inverse_frequencies(&d.rope, d.head_dim),
            runtime: runtime.clone(),
        })
    }

    /// The rotary tables and the causal bias (plus `mask_bias`, the padding) for `h`'s length.
    fn sequence(&self, h: &Tensor, mask_bias: Option<&Tensor>) -> Result<Sequence> {
        let window = self.config.decoder.as_ref().and_then(|d| d.sliding_window);
        let causal = causal_bias(h.dim(1)?, window, h.dtype(), h.device())?;
        Ok(Sequence::new(&self.inv_freq, h, causal, mask_bias)?)
    }

    /// Log-probabilities of the next token (b, vocab) from h^(L)'s row `position`: the final
    /// RMSNorm, the language-model head and a log-softmax (its plain gradient under every rule
    /// set). None for a classifier without a language-model head.
    pub fn next_token_log_probs(
        &self,
        h_last: &Tensor,
        position: usize,
        rules: Rules,
    ) -> Result<Option<Tensor>> {
        let Some(head) = &self.lm_head else {
            return Ok(None);
        };
        let row = h_last.narrow(1, position, 1)?.squeeze(1)?;
        let logits = head.forward(&self.norm.forward_with(&row, rules)?)?;
        Ok(Some(candle_nn::ops::log_softmax(&logits, D::Minus1)?))
    }

    /// Whether this is a causal language model (`…ForCausalLM`) rather than a classifier.
    pub fn is_language_model(&self) -> bool {
        self.score.is_none() && self.lm_head.is_some()
    }

    fn block_at(&self, index: usize) -> Result<&DecoderBlock> {
        super::block::block_at(&self.blocks, index)
    }
}

impl Encoder for Decoder {
    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn input_embeddings(&self, input: &ModelInput) -> Result<Tensor> {
        let t = text_of(input)?;
        super::bert::check_ids(&t.input_ids, self.config.vocab_size, "token id")?;
        Ok(self.embed.forward(&t.input_ids)?)
    }

    fn embed_with(&self, input: &ModelInput, input_embeds: &Tensor, _: Rules) -> Result<Tensor> {
        text_of(input)?;
        // h^(0) is the token embedding itself: positions enter inside attention.
        Ok(input_embeds.clone())
    }

    fn blocks_with(
        &self,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        from: usize,
        probes: &[Tensor],
        rules: Rules,
    ) -> Result<BlocksOutput> {
        let seq = self.sequence(h, mask_bias)?;
        Ok(run_suffix(
            &self.blocks,
            h,
            from,
            probes,
            |block, x, probe| block.forward(x, &seq, probe, rules),
        )?)
    }

    fn block_with(
        &self,
        index: usize,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        probe: Option<&Tensor>,
        rules: Rules,
    ) -> Result<(Tensor, Tensor)> {
        let seq = self.sequence(h, mask_bias)?;
        Ok(self.block_at(index)?.forward(h, &seq, probe, rules)?)
    }

    fn reads_first_token(&self) -> bool {
        false
    }

    fn as_decoder(&self) -> Option<&Decoder> {
        Some(self)
    }

    fn readout_token(&self, seq_len: usize) -> usize {
        seq_len.saturating_sub(1)
    }

    fn readout_block(
        &self,
        _: usize,
        _: &Tensor,
        _: Option<&Tensor>,
        _: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        Err(no_readout_block(&self.config.model_type))
    }

    fn head_with(&self, h_last: &Tensor, rules: Rules) -> Result<Tensor> {
        let score = self
            .score
            .as_ref()
            .ok_or_else(|| super::no_head_error(&self.config))?;
        Ok(score.forward(&self.norm.forward_with(&last_row(h_last)?, rules)?)?)
    }

    fn has_head(&self) -> bool {
        self.score.is_some()
    }

    fn lrp_relevance(
        &self,
        _: &ModelInput,
        _: Option<&Tensor>,
        _: usize,
    ) -> Result<relprop::LrpRelevance> {
        Err(no_chefer2021(&self.config.model_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::Rope;

    fn config(scaling: RopeScaling) -> DecoderConfig {
        DecoderConfig {
            num_kv_heads: 1,
            head_dim: 8,
            rope: Rope {
                theta: 10000.0,
                scaling,
            },
            qkv_bias: false,
            output_bias: false,
            mlp_bias: false,
            sliding_window: None,
            tied_lm_head: false,
        }
    }

    #[test]
    fn rotary_frequencies_follow_the_rope_type() {
        let freqs = |c: DecoderConfig| inverse_frequencies(&c.rope, c.head_dim);
        let f = freqs(config(RopeScaling::Default));
        assert_eq!(f.len(), 4);
        assert!((f[1] - 0.1).abs() < 1e-15, "θ^(-2/8) = 0.1: {}", f[1]);
        let linear = freqs(config(RopeScaling::Linear { factor: 4.0 }));
        assert!((linear[1] - 0.025).abs() < 1e-15);
        // Llama 3: long wavelengths (> original/low) divided by the factor, short kept.
        let l3 = freqs(config(RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 64.0,
        }));
        assert_eq!(l3[0], f[0], "wavelength 2π < 16 is kept");
        assert!(
            (l3[3] - f[3] / 8.0).abs() < 1e-18,
            "wavelength 6283 > 64 is scaled"
        );
        let wavelen: f64 = 2.0 * std::f64::consts::PI / f[1];
        let smooth = (64.0 / wavelen - 1.0) / 3.0;
        assert!((l3[1] - ((1.0 - smooth) * f[1] / 8.0 + smooth * f[1])).abs() < 1e-15);
    }

    #[test]
    fn rotation_keeps_norms_and_the_causal_mask_hides_the_future() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let c = config(RopeScaling::Default);
        let f = inverse_frequencies(&c.rope, c.head_dim);
        let (cos, sin) = rotary_tables(&f, 3, DType::F64, &dev)?;
        let x = Tensor::arange(0.0f64, 24.0, &dev)?.reshape((1, 1, 3, 8))?;
        let y = rotate(&x, &cos, &sin)?;
        let norms = |t: &Tensor| -> candle_core::Result<Vec<f64>> {
            t.sqr()?.sum(D::Minus1)?.flatten_all()?.to_vec1()
        };
        for (a, b) in norms(&x)?.iter().zip(norms(&y)?) {
            assert!((a - b).abs() < 1e-9 * a.max(1.0));
        }
        // Position 0 is not rotated.
        assert_eq!(
            y.narrow(2, 0, 1)?.flatten_all()?.to_vec1::<f64>()?,
            x.narrow(2, 0, 1)?.flatten_all()?.to_vec1::<f64>()?
        );
        let bias = causal_bias(3, None, DType::F64, &dev)?
            .flatten_all()?
            .to_vec1::<f64>()?;
        assert_eq!(bias, [0.0, -1e4, -1e4, 0.0, 0.0, -1e4, 0.0, 0.0, 0.0]);
        let windowed = causal_bias(3, Some(2), DType::F64, &dev)?
            .flatten_all()?
            .to_vec1::<f64>()?;
        assert_eq!(
            windowed[6], -1e4,
            "query 2 cannot see key 0 with a window of 2"
        );
        Ok(())
    }
}
