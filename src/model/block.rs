//! The Transformer block shared by every family: multi-head self-attention plus a feed-forward
//! network, post-LN (BERT, RoBERTa, DistilBERT) or pre-LN (ViT). Families differ only in weight
//! names, which their own loaders map onto this layout.

use super::fused::softmax_last_dim;
use super::linear::Linear;
use super::ops::{Activation, LayerNorm};
use super::rules::{uniform, Rules};
use super::ModelConfig;
use candle_core::{Module, Result, Tensor, D};
use candle_nn::VarBuilder;

#[derive(Debug, Clone)]
pub struct SelfAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub output: Linear,
    pub num_heads: usize,
}

impl SelfAttention {
    /// x: (b, s, d). `mask_bias`: (b|1, 1, 1, s) additive. `probe`: a zero tensor (b, h, s, s)
    /// added to the probabilities so that a Var there receives dy/dA (candle keeps gradients
    /// of leaves only). Returns (attention output after the output projection, probabilities).
    /// `rules`: see rules.rs (AttnLRP splits Q·Kᵀ and A·V uniformly between their operands).
    pub fn forward(
        &self,
        x: &Tensor,
        mask_bias: Option<&Tensor>,
        probe: Option<&Tensor>,
        rules: Rules,
    ) -> Result<(Tensor, Tensor)> {
        self.forward_queries(x, x, mask_bias, probe, rules)
    }

    /// [`SelfAttention::forward`] for the query rows `xq` (b, q, d) of the sequence `x`: keys
    /// and values from every token, probabilities (b, h, q, s).
    pub fn forward_queries(
        &self,
        xq: &Tensor,
        x: &Tensor,
        mask_bias: Option<&Tensor>,
        probe: Option<&Tensor>,
        rules: Rules,
    ) -> Result<(Tensor, Tensor)> {
        let hd = x.dim(D::Minus1)? / self.num_heads;
        let q = self.split_heads(&self.query.forward(xq)?)?;
        let k = self.split_heads(&self.key.forward(x)?)?;
        let v = self.split_heads(&self.value.forward(x)?)?;
        let mut scores = (uniform(&q.matmul(&k.t()?)?, rules)? / (hd as f64).sqrt())?;
        if let Some(bias) = mask_bias {
            scores = scores.broadcast_add(bias)?;
        }
        let mut probs = softmax_last_dim(&scores)?;
        if let Some(p) = probe {
            probs = (probs + p)?;
        }
        let ctx = merge_heads(&uniform(&probs.matmul(&v)?, rules)?)?;
        Ok((self.output.forward(&ctx)?, probs))
    }

    /// (b, s, d) → (b, heads, s, d / heads), contiguous.
    pub fn split_heads(&self, t: &Tensor) -> Result<Tensor> {
        let (b, s, d) = t.dims3()?;
        t.reshape((b, s, self.num_heads, d / self.num_heads))?
            .transpose(1, 2)?
            .contiguous()
    }
}

/// (b, heads, s, hd) → (b, s, heads · hd).
pub fn merge_heads(t: &Tensor) -> Result<Tensor> {
    let (b, h, s, hd) = t.dims4()?;
    t.transpose(1, 2)?.reshape((b, s, h * hd))
}

pub use crate::engine::block::Norm;

#[derive(Debug, Clone)]
pub struct Block {
    pub attention: SelfAttention,
    pub attention_norm: LayerNorm,
    pub ffn_in: Linear,
    pub ffn_out: Linear,
    pub ffn_norm: LayerNorm,
    pub activation: Activation,
    pub norm: Norm,
}

impl Block {
    pub fn forward(
        &self,
        x: &Tensor,
        mask_bias: Option<&Tensor>,
        probe: Option<&Tensor>,
        rules: Rules,
    ) -> Result<(Tensor, Tensor)> {
        self.forward_rows(x, mask_bias, probe, rules, false)
    }

    /// [`Block::forward`], or with `first_token_only` the output at the first token alone
    /// (b, 1, d), probabilities (b, h, 1, s): all a head that reads the first token needs of
    /// the last block, at a fraction of its cost (queries, attention output and FFN of one row).
    pub fn forward_rows(
        &self,
        x: &Tensor,
        mask_bias: Option<&Tensor>,
        probe: Option<&Tensor>,
        rules: Rules,
        first_token_only: bool,
    ) -> Result<(Tensor, Tensor)> {
        let rows = |t: &Tensor| -> Result<Tensor> {
            if first_token_only {
                t.narrow(1, 0, 1)
            } else {
                Ok(t.clone())
            }
        };
        let ffn = |t: &Tensor| -> Result<Tensor> {
            self.ffn_out.forward(
                &self
                    .activation
                    .forward_with(&self.ffn_in.forward(t)?, rules)?,
            )
        };
        let attention_norm = |t: &Tensor| self.attention_norm.forward_with(t, rules);
        let ffn_norm = |t: &Tensor| self.ffn_norm.forward_with(t, rules);
        match self.norm {
            Norm::Post => {
                let (att, probs) =
                    self.attention
                        .forward_queries(&rows(x)?, x, mask_bias, probe, rules)?;
                let a = attention_norm(&(att + rows(x)?)?)?;
                let out = ffn_norm(&(ffn(&a)? + &a)?)?;
                Ok((out, probs))
            }
            Norm::Pre => {
                let xn = attention_norm(x)?;
                let (att, probs) =
                    self.attention
                        .forward_queries(&rows(&xn)?, &xn, mask_bias, probe, rules)?;
                let a = (att + rows(x)?)?;
                let out = (ffn(&ffn_norm(&a)?)? + &a)?;
                Ok((out, probs))
            }
        }
    }
}

/// What running a suffix of blocks returns.
#[derive(Debug, Clone)]
pub struct BlocksOutput {
    /// Outputs of the blocks that ran, in order: the last one is h^(L).
    pub hidden: Vec<Tensor>,
    /// Attention probabilities (b, heads, s, s) of the blocks that ran.
    pub attentions: Vec<Tensor>,
}

/// Runs `blocks[from..]` on `h` (the state h^(from)). `probes` is empty or holds one probe per
/// block that runs.
pub fn run_blocks(
    blocks: &[Block],
    h: &Tensor,
    mask_bias: Option<&Tensor>,
    from: usize,
    probes: &[Tensor],
    rules: Rules,
) -> Result<BlocksOutput> {
    run_suffix(blocks, h, from, probes, |block, x, probe| {
        block.forward(x, mask_bias, probe, rules)
    })
}

/// Runs `blocks[from..]` on `h`, each by `forward(block, input, probe)` → (output,
/// probabilities), collecting every output and probability map; any family's blocks.
pub fn run_suffix<B>(
    blocks: &[B],
    h: &Tensor,
    from: usize,
    probes: &[Tensor],
    forward: impl Fn(&B, &Tensor, Option<&Tensor>) -> Result<(Tensor, Tensor)>,
) -> Result<BlocksOutput> {
    let todo = blocks.len().saturating_sub(from);
    if !probes.is_empty() && probes.len() != todo {
        candle_core::bail!("{} attention probes given for {todo} blocks", probes.len());
    }
    let mut x = h.clone();
    let mut out = BlocksOutput {
        hidden: Vec::with_capacity(todo),
        attentions: Vec::with_capacity(todo),
    };
    for (i, block) in blocks.iter().skip(from).enumerate() {
        let (y, probs) = forward(block, &x, probes.get(i))?;
        out.hidden.push(y.clone());
        out.attentions.push(probs);
        x = y;
    }
    Ok(out)
}

/// Block `index` (0-based) of `blocks`, or an error that says how many there are.
pub fn block_at<B>(blocks: &[B], index: usize) -> crate::error::Result<&B> {
    blocks.get(index).ok_or_else(|| {
        crate::error::CaligError::InvalidInput(format!(
            "no block {index}: the model has {}",
            blocks.len()
        ))
    })
}

/// Weight names of one block, relative to `layer.N`.
pub struct BlockNames {
    pub query: &'static str,
    pub key: &'static str,
    pub value: &'static str,
    pub attention_output: &'static str,
    pub attention_norm: &'static str,
    pub ffn_in: &'static str,
    pub ffn_out: &'static str,
    pub ffn_norm: &'static str,
    pub norm: Norm,
}

/// Loads `cfg.num_layers` blocks from `vb` (`.../layer.N.<names>`).
pub fn load_blocks(vb: VarBuilder, cfg: &ModelConfig, names: &BlockNames) -> Result<Vec<Block>> {
    (0..cfg.num_layers)
        .map(|i| load_block(vb.pp(format!("layer.{i}")), cfg, names))
        .collect()
}

/// Loads one block from `l` (`.../<names>`).
pub fn load_block(l: VarBuilder, cfg: &ModelConfig, names: &BlockNames) -> Result<Block> {
    let (d, di, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.layer_norm_eps);
    Ok(Block {
        attention: SelfAttention {
            query: super::linear::linear(d, d, l.pp(names.query))?,
            key: super::linear::linear(d, d, l.pp(names.key))?,
            value: super::linear::linear(d, d, l.pp(names.value))?,
            output: super::linear::linear(d, d, l.pp(names.attention_output))?,
            num_heads: cfg.num_heads,
        },
        attention_norm: LayerNorm::load(l.pp(names.attention_norm), d, eps)?,
        ffn_in: super::linear::linear(d, di, l.pp(names.ffn_in))?,
        ffn_out: super::linear::linear(di, d, l.pp(names.ffn_out))?,
        ffn_norm: LayerNorm::load(l.pp(names.ffn_norm), d, eps)?,
        activation: cfg.activation,
        norm: names.norm,
    })
}
