//! ModernBERT (`ModernBertForSequenceClassification`, transformers' modeling_modernbert.py):
//! token embeddings and a LayerNorm (h^(0), no position table), pre-norm blocks with rotary
//! attention and a GeGLU unit (decoder.rs's block, here bidirectional), then the head: the
//! final LayerNorm, `head.dense` + activation + `head.norm` on \[CLS\] (or on the mean of the
//! rows, `classifier_pooling = "mean"`) and `classifier`.
//!
//! - Layer i attends globally (rotary base `global_rope_theta`) or locally (`local_rope_theta`,
//!   a query sees the keys within `local_attention / 2` positions of it), as `layer_types` (or
//!   the older `global_attn_every_n_layers`: i % n == 0 is global) says.
//! - Layer 0 has no attention norm (`attn_norm` is the identity); the LayerNorms have no bias
//!   when `norm_bias` is false, and the projections none unless `attention_bias`/`mlp_bias`.
//! - `Wqkv` holds the query, key and value projections (rows in that order), `Wi` the GeGLU's
//!   activated input and its gate (rows in that order): loading splits them.
//! - Batches are padded on the right and positions run 0..s−1, as in transformers' forward
//!   with an attention mask (its unpadding paths serve flash attention only).
//!
//! Under AttnLRP (rules.rs) every LayerNorm holds its standard deviation constant, GELU passes
//! relevance by the identity rule, and the GeGLU product and Q·Kᵀ, A·V split it uniformly; the
//! rotary rotation is linear. chefer2021's explicit rules (relprop.rs) cover BERT's block only.

use super::bert::{check_ids, text_of};
use super::block::{block_at, run_suffix, BlocksOutput};
use super::config::ModernBertConfig;
use super::decoder::{
    attention_bias, inverse_frequencies, no_readout_block, DecoderAttention, DecoderBlock,
    GateActivation, GatedUnit, PreNorm, Sequence,
};
use super::linear::Linear;
use super::ops::{Activation, LayerNorm};
use super::rules::{identity_rule, Rules};
use super::{relprop, Encoder, ModelConfig, ModelInput, Pooling};
use crate::error::{CaligError, Result};
use crate::runtime::Runtime;
use candle_core::{Module, Tensor};
use candle_nn::{Embedding, VarBuilder};

/// A block and whether it attends globally.
struct Layer {
    block: DecoderBlock,
    global: bool,
}

/// The head: `head.dense`, the activation, `head.norm`, then `classifier`.
struct Head {
    dense: Linear,
    activation: Activation,
    norm: LayerNorm,
    classifier: Linear,
}

pub struct ModernBert {
    config: ModelConfig,
    embed: Embedding,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
    final_norm: LayerNorm,
    head: Option<Head>,
    global_freq: Vec<f64>,
    local_freq: Vec<f64>,
    half_window: usize,
    runtime: Runtime,
}

/// A linear layer of `vb` (weight (outputs, inputs)), rows `from..from + outputs` of it.
fn rows(
    vb: &VarBuilder,
    all: usize,
    inputs: usize,
    from: usize,
    outputs: usize,
    bias: bool,
) -> candle_core::Result<Linear> {
    let weight = vb
        .get((all, inputs), "weight")?
        .narrow(0, from, outputs)?
        .contiguous()?;
    let bias = if bias {
        Some(
            vb.get(all, "bias")?
                .narrow(0, from, outputs)?
                .contiguous()?,
        )
    } else {
        None
    };
    Ok(Linear::new(weight, bias))
}

fn load_layer(
    l: VarBuilder,
    index: usize,
    cfg: &ModelConfig,
    m: &ModernBertConfig,
) -> candle_core::Result<Layer> {
    let (d, di, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
    let norm = |name: &str| LayerNorm::load_with_bias(l.pp(name), d, eps, m.norm_bias);
    let (qkv, wi) = (l.pp("attn.Wqkv"), l.pp("mlp.Wi"));
    let attention = DecoderAttention {
        query: rows(&qkv, 3 * d, d, 0, d, m.attention_bias)?,
        key: rows(&qkv, 3 * d, d, d, d, m.attention_bias)?,
        value: rows(&qkv, 3 * d, d, 2 * d, d, m.attention_bias)?,
        output: rows(&l.pp("attn.Wo"), d, d, 0, d, m.attention_bias)?,
        heads: cfg.num_heads,
        kv_heads: cfg.num_heads,
        head_dim: cfg.head_dim(),
    };
    let unit = GatedUnit {
        gate: rows(&wi, 2 * di, d, 0, di, m.mlp_bias)?,
        up: rows(&wi, 2 * di, d, di, di, m.mlp_bias)?,
        down: rows(&l.pp("mlp.Wo"), d, di, 0, d, m.mlp_bias)?,
        activation: GateActivation::Other(cfg.activation),
    };
    Ok(Layer {
        block: DecoderBlock {
            attention,
            // transformers: layer 0's attn_norm is nn.Identity (the embeddings end in a norm).
            attention_norm: if index == 0 {
                PreNorm::Identity
            } else {
                PreNorm::Layer(norm("attn_norm")?)
            },
            unit,
            unit_norm: PreNorm::Layer(norm("mlp_norm")?),
        },
        global: m.global[index],
    })
}

impl ModernBert {
    /// `base` points at `model.`, `root` at the checkpoint root (`head`, `classifier`).
    pub fn load(
        base: &VarBuilder,
        root: &VarBuilder,
        cfg: &ModelConfig,
        runtime: &Runtime,
    ) -> candle_core::Result<Self> {
        let m = cfg
            .modernbert
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg("not a ModernBERT config".into()))?;
        let (d, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        if cfg.head_dim() % 2 != 0 {
            candle_core::bail!("head dimension {} must be even for rotary", cfg.head_dim());
        }
        let head = if root.contains_tensor("classifier.weight") {
            Some(Head {
                dense: rows(&root.pp("head.dense"), d, d, 0, d, m.classifier_bias)?,
                activation: m.classifier_activation,
                norm: LayerNorm::load_with_bias(root.pp("head.norm"), d, eps, m.norm_bias)?,
                classifier: rows(
                    &root.pp("classifier"),
                    cfg.labels.len(),
                    d,
                    0,
                    cfg.labels.len(),
                    true,
                )?,
            })
        } else {
            None
        };
        Ok(Self {
            config: cfg.clone(),
            embed: candle_nn::embedding(cfg.vocab_size, d, base.pp("embeddings.tok_embeddings"))?,
            embed_norm: LayerNorm::load_with_bias(base.pp("embeddings.norm"), d, eps, m.norm_bias)?,
            layers: (0..cfg.num_layers)
                .map(|i| load_layer(base.pp(format!("layers.{i}")), i, cfg, m))
                .collect::<candle_core::Result<_>>()?,
            final_norm: LayerNorm::load_with_bias(base.pp("final_norm"), d, eps, m.norm_bias)?,
            head,
            global_freq: inverse_frequencies(&m.global_rope, cfg.head_dim()),
            local_freq: inverse_frequencies(&m.local_rope, cfg.head_dim()),
            half_window: m.local_attention / 2,
            runtime: runtime.clone(),
        })
    }

    /// The global and the local layers' constants for `h`'s length: rotary tables and the
    /// padding bias, plus the local window (|query − key| > local_attention / 2 masked).
    fn sequences(&self, h: &Tensor, mask_bias: Option<&Tensor>) -> Result<[Sequence; 2]> {
        if self.config.pooling == Pooling::Mean {
            refuse_masked_mean(mask_bias)?;
        }
        let (s, dtype, device) = (h.dim(1)?, h.dtype(), h.device());
        let half = self.half_window;
        let global = attention_bias(s, dtype, device, |_, _| false)?;
        let local = attention_bias(s, dtype, device, |q, k| q.abs_diff(k) > half)?;
        Ok([
            Sequence::new(&self.global_freq, h, global, mask_bias)?,
            Sequence::new(&self.local_freq, h, local, mask_bias)?,
        ])
    }

    fn run(
        layer: &Layer,
        [global, local]: &[Sequence; 2],
        x: &Tensor,
        probe: Option<&Tensor>,
        rules: Rules,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let seq = if layer.global { global } else { local };
        layer.block.forward(x, seq, probe, rules)
    }
}

/// Mean pooling needs the attention mask, which the head does not see: calig runs a
/// mean-pooled ModernBERT on unpadded, unmasked inputs only (one text at a time).
fn refuse_masked_mean(mask_bias: Option<&Tensor>) -> Result<()> {
    if let Some(m) = mask_bias {
        if m.abs()?
            .flatten_all()?
            .max(0)?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?
            > 0.0
        {
            return Err(CaligError::Unsupported(
                "ModernBERT with classifier_pooling = mean: calig's head averages every row, \
                 so padded or masked batches are not supported; explain one text at a time"
                    .into(),
            ));
        }
    }
    Ok(())
}

impl Encoder for ModernBert {
    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn input_embeddings(&self, input: &ModelInput) -> Result<Tensor> {
        let t = text_of(input)?;
        check_ids(&t.input_ids, self.config.vocab_size, "token id")?;
        Ok(self.embed.forward(&t.input_ids)?)
    }

    fn embed_with(
        &self,
        input: &ModelInput,
        input_embeds: &Tensor,
        rules: Rules,
    ) -> Result<Tensor> {
        text_of(input)?;
        Ok(self.embed_norm.forward_with(input_embeds, rules)?)
    }

    fn blocks_with(
        &self,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        from: usize,
        probes: &[Tensor],
        rules: Rules,
    ) -> Result<BlocksOutput> {
        let seqs = self.sequences(h, mask_bias)?;
        Ok(run_suffix(
            &self.layers,
            h,
            from,
            probes,
            |layer, x, probe| Self::run(layer, &seqs, x, probe, rules),
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
        Ok(Self::run(
            block_at(&self.layers, index)?,
            &self.sequences(h, mask_bias)?,
            h,
            probe,
            rules,
        )?)
    }

    fn reads_first_token(&self) -> bool {
        // The head reads [CLS] (cls pooling), but the shared rotary block has no one-row
        // variant: the last block runs every row.
        false
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
        let head = self
            .head
            .as_ref()
            .ok_or_else(|| super::no_head_error(&self.config))?;
        // final_norm acts row by row: norm the rows the pooling reads.
        let pooled = match self.config.pooling {
            Pooling::Cls => self
                .final_norm
                .forward_with(&h_last.narrow(1, 0, 1)?.squeeze(1)?, rules)?,
            Pooling::Mean => self.final_norm.forward_with(h_last, rules)?.mean(1)?,
        };
        let x = head.dense.forward(&pooled)?;
        let y = identity_rule(&x, &head.activation.forward(&x)?, rules)?;
        let y = head.norm.forward_with(&y, rules)?;
        Ok(head.classifier.forward(&y)?)
    }

    fn has_head(&self) -> bool {
        self.head.is_some()
    }

    fn lrp_relevance(
        &self,
        _: &ModelInput,
        _: Option<&Tensor>,
        _: usize,
    ) -> Result<relprop::LrpRelevance> {
        Err(CaligError::Unsupported(format!(
            "chefer2021 has no LRP rules for {} blocks (rotary attention, local windows, GeGLU; \
             relprop.rs covers BERT's block); use attnlrp, which covers them",
            self.config.model_type
        )))
    }
}
