//! GPT-2 (`GPT2ForSequenceClassification`): token plus learned position embeddings (h^(0) is
//! their sum), pre-LN blocks (the shared block of block.rs with LayerNorm and the tanh GELU)
//! under a causal mask, then the head: the final LayerNorm `ln_f` and the bias-free `score` at
//! the last token (batches are padded on the left and positions count from the first real
//! token, as transformers' generation does). The checkpoint's `Conv1D` weights are stored
//! (in, out) and its query, key and value in one `c_attn`: loading transposes and splits them.

use super::bert::{check_ids, text_of};
use super::block::{block_at, run_suffix, Block, BlocksOutput, Norm, SelfAttention};
use super::decoder::{causal_bias, last_row, no_chefer2021, no_readout_block};
use super::linear::Linear;
use super::ops::LayerNorm;
use super::rules::Rules;
use super::{relprop, Encoder, ModelConfig, ModelInput};
use crate::error::Result;
use crate::runtime::Runtime;
use candle_core::{Module, Tensor};
use candle_nn::{Embedding, VarBuilder};

/// A `Conv1D` (weight (in, out)) as a [`Linear`] (weight (out, in)).
fn conv1d(vb: VarBuilder, inputs: usize, outputs: usize) -> candle_core::Result<Linear> {
    let w = vb.get((inputs, outputs), "weight")?;
    Ok(Linear::new(
        w.t()?.contiguous()?,
        Some(vb.get(outputs, "bias")?),
    ))
}

/// `c_attn` split into the query, key and value projections.
fn split_qkv(vb: VarBuilder, d: usize) -> candle_core::Result<[Linear; 3]> {
    let w = vb.get((d, 3 * d), "weight")?;
    let b = vb.get(3 * d, "bias")?;
    let part = |i: usize| -> candle_core::Result<Linear> {
        Ok(Linear::new(
            w.narrow(1, i * d, d)?.t()?.contiguous()?,
            Some(b.narrow(0, i * d, d)?.contiguous()?),
        ))
    };
    Ok([part(0)?, part(1)?, part(2)?])
}

fn load_block(l: VarBuilder, cfg: &ModelConfig) -> candle_core::Result<Block> {
    let (d, di, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
    let [query, key, value] = split_qkv(l.pp("attn.c_attn"), d)?;
    Ok(Block {
        attention: SelfAttention {
            query,
            key,
            value,
            output: conv1d(l.pp("attn.c_proj"), d, d)?,
            num_heads: cfg.num_heads,
        },
        attention_norm: LayerNorm::load(l.pp("ln_1"), d, eps)?,
        ffn_in: conv1d(l.pp("mlp.c_fc"), d, di)?,
        ffn_out: conv1d(l.pp("mlp.c_proj"), di, d)?,
        ffn_norm: LayerNorm::load(l.pp("ln_2"), d, eps)?,
        activation: cfg.activation,
        norm: Norm::Pre,
    })
}

pub struct Gpt2 {
    config: ModelConfig,
    wte: Embedding,
    wpe: Embedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    score: Option<Linear>,
    runtime: Runtime,
}

impl Gpt2 {
    /// `base` points at `transformer.`, `root` at the checkpoint root (`score`).
    pub fn load(
        base: &VarBuilder,
        root: &VarBuilder,
        cfg: &ModelConfig,
        runtime: &Runtime,
    ) -> candle_core::Result<Self> {
        let d = cfg.hidden_size;
        let score = if root.contains_tensor("score.weight") {
            Some(Linear::new(
                root.pp("score").get((cfg.labels.len(), d), "weight")?,
                None,
            ))
        } else {
            None
        };
        Ok(Self {
            config: cfg.clone(),
            wte: candle_nn::embedding(cfg.vocab_size, d, base.pp("wte"))?,
            wpe: candle_nn::embedding(cfg.max_position_embeddings, d, base.pp("wpe"))?,
            blocks: (0..cfg.num_layers)
                .map(|i| load_block(base.pp(format!("h.{i}")), cfg))
                .collect::<candle_core::Result<_>>()?,
            ln_f: LayerNorm::load(base.pp("ln_f"), d, cfg.layer_norm_eps)?,
            score,
            runtime: runtime.clone(),
        })
    }

    /// The causal bias plus `mask_bias` (the padding) for `h`'s length.
    fn bias(&self, h: &Tensor, mask_bias: Option<&Tensor>) -> Result<Tensor> {
        let causal = causal_bias(h.dim(1)?, None, h.dtype(), h.device())?;
        Ok(match mask_bias {
            Some(m) => causal.broadcast_add(m)?,
            None => causal,
        })
    }
}

impl Encoder for Gpt2 {
    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn input_embeddings(&self, input: &ModelInput) -> Result<Tensor> {
        let t = text_of(input)?;
        check_ids(&t.input_ids, self.config.vocab_size, "token id")?;
        Ok(self.wte.forward(&t.input_ids)?)
    }

    fn embed_with(&self, input: &ModelInput, input_embeds: &Tensor, _: Rules) -> Result<Tensor> {
        let t = text_of(input)?;
        check_ids(
            &t.position_ids,
            self.config.max_position_embeddings,
            "position id",
        )?;
        Ok(input_embeds.broadcast_add(&self.wpe.forward(&t.position_ids)?)?)
    }

    fn blocks_with(
        &self,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        from: usize,
        probes: &[Tensor],
        rules: Rules,
    ) -> Result<BlocksOutput> {
        let bias = self.bias(h, mask_bias)?;
        Ok(run_suffix(
            &self.blocks,
            h,
            from,
            probes,
            |block, x, probe| block.forward(x, Some(&bias), probe, rules),
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
        let block = block_at(&self.blocks, index)?;
        Ok(block.forward(h, Some(&self.bias(h, mask_bias)?), probe, rules)?)
    }

    fn reads_first_token(&self) -> bool {
        false
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
        Ok(score.forward(&self.ln_f.forward_with(&last_row(h_last)?, rules)?)?)
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
