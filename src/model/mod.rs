//! Hookable Transformer encoders built from differentiable primitives.
//!
//! Every family implements [`Encoder`]: embeddings give h^(0), any suffix of blocks can be run
//! from a given (batched, possibly interpolated) hidden state while returning each block's
//! attention probabilities, and the classification head maps h^(L) to logits. Attribution
//! methods only talk to this trait.

pub mod albert;
pub mod attach;
pub mod bert;
pub mod block;
pub mod builtin;
pub mod classifier;
pub mod config;
pub mod decoder;
pub mod distilbert;
pub mod electra;
pub mod engine_weights;
pub mod fused;
pub mod gpt2;
pub mod image;
pub mod linear;
pub mod load;
pub mod modernbert;
pub mod next_token;
pub mod ops;
pub mod relprop;
pub mod roberta;
pub mod rules;
pub mod text;
pub mod vit;
pub mod weights;

pub use block::BlocksOutput;
pub use config::{Family, ModelConfig, Pooling};
pub use load::{load_model, load_model_with, LoadedModel, ModelSource};
pub use rules::Rules;

use crate::error::Result;
use crate::runtime::Runtime;
use candle_core::{DType, Device, Tensor};

/// A batch of tokenised text. All tensors are (b, s) u32.
#[derive(Debug, Clone)]
pub struct TextInput {
    pub input_ids: Tensor,
    pub token_type_ids: Tensor,
    pub position_ids: Tensor,
    pub attention_mask: Tensor,
}

/// A batch of preprocessed (normalised) images, (b, c, h, w) in the model's dtype.
#[derive(Debug, Clone)]
pub struct ImageInput {
    pub pixel_values: Tensor,
}

#[derive(Debug, Clone)]
pub enum ModelInput {
    Text(TextInput),
    Image(ImageInput),
}

impl ModelInput {
    pub fn batch_size(&self) -> Result<usize> {
        Ok(match self {
            Self::Text(t) => t.input_ids.dim(0)?,
            Self::Image(i) => i.pixel_values.dim(0)?,
        })
    }

    /// Additive attention bias for padded text batches; images have none.
    pub fn mask_bias(&self, dtype: DType) -> Result<Option<Tensor>> {
        match self {
            Self::Text(t) => Ok(Some(ops::mask_bias(&t.attention_mask, dtype)?)),
            Self::Image(_) => Ok(None),
        }
    }

    pub fn as_text(&self) -> Option<&TextInput> {
        match self {
            Self::Text(t) => Some(t),
            Self::Image(_) => None,
        }
    }
}

/// Everything a full forward pass produces.
#[derive(Debug, Clone)]
pub struct ForwardOutput {
    pub logits: Tensor,
    /// h^(0) .. h^(L), each (b, s, d).
    pub hidden_states: Vec<Tensor>,
    /// Attention probabilities of blocks 1..L, each (b, heads, s, s).
    pub attentions: Vec<Tensor>,
}

/// The hook API shared by all families.
pub trait Encoder: Send + Sync {
    fn config(&self) -> &ModelConfig;
    /// Where and how the model runs (device, float type, engine, workers).
    fn runtime(&self) -> &Runtime;

    fn dtype(&self) -> DType {
        self.runtime().dtype
    }

    fn device(&self) -> &Device {
        &self.runtime().device
    }

    /// The attributed input space: the word-embedding lookup E (b, s, d) for text, the
    /// normalised pixels (b, c, h, w) for images.
    fn input_embeddings(&self, input: &ModelInput) -> Result<Tensor>;

    /// h^(0) from `input_embeds` (which may be an interpolated batch of one input's E, while
    /// positions and token types come from `input`), with the given backward rules.
    fn embed_with(&self, input: &ModelInput, input_embeds: &Tensor, rules: Rules)
        -> Result<Tensor>;

    /// Runs blocks from+1..L on `h` = h^(from) (0-based block indices `from..L`). `probes` is empty
    /// or holds one zero tensor per block run, of the attention probabilities' shape.
    fn blocks_with(
        &self,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        from: usize,
        probes: &[Tensor],
        rules: Rules,
    ) -> Result<BlocksOutput>;

    /// Runs the single block `index` (0-based) on `h`; returns (output, attention probabilities).
    fn block_with(
        &self,
        index: usize,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        probe: Option<&Tensor>,
        rules: Rules,
    ) -> Result<(Tensor, Tensor)>;

    /// Whether the head reads h^(L) at the first token only (every text head, ViT's \[CLS\]
    /// pooling), so that the last block need compute that row alone.
    fn reads_first_token(&self) -> bool;

    /// The token whose row of h^(L) the head reads, in a sequence of `seq_len`: the first
    /// (\[CLS\], `<s>`) for encoders, the last for decoders (their batches are left-padded).
    /// The decoder behind this model, where it is one (causal language models are explained
    /// through it: next_token.rs).
    fn as_decoder(&self) -> Option<&decoder::Decoder> {
        None
    }

    fn readout_token(&self, seq_len: usize) -> usize {
        let _ = seq_len;
        0
    }

    /// The block `index` (0-based) for a head that reads the first token: its output at the
    /// first token (b, 1, d) and that row's attention probabilities (b, heads, 1, s), with true
    /// gradients; `probe` of the probabilities' shape.
    fn readout_block(
        &self,
        index: usize,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        probe: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)>;

    /// Logits (b, classes) from h^(L).
    fn head_with(&self, h_last: &Tensor, rules: Rules) -> Result<Tensor>;

    /// [`Encoder::embed_with`] with true gradients.
    fn embed(&self, input: &ModelInput, input_embeds: &Tensor) -> Result<Tensor> {
        self.embed_with(input, input_embeds, Rules::Gradient)
    }

    /// [`Encoder::blocks_with`] with true gradients.
    fn blocks(
        &self,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        from: usize,
        probes: &[Tensor],
    ) -> Result<BlocksOutput> {
        self.blocks_with(h, mask_bias, from, probes, Rules::Gradient)
    }

    /// [`Encoder::block_with`] with true gradients.
    fn block(
        &self,
        index: usize,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        probe: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        self.block_with(index, h, mask_bias, probe, Rules::Gradient)
    }

    /// [`Encoder::head_with`] with true gradients.
    fn head(&self, h_last: &Tensor) -> Result<Tensor> {
        self.head_with(h_last, Rules::Gradient)
    }

    fn has_head(&self) -> bool;

    /// The explicit CPU engine over this model's blocks (engine/), where it applies.
    fn engine(&self) -> Result<Option<&crate::engine::Engine>> {
        Ok(None)
    }

    /// Chefer et al.'s (CVPR 2021) LRP relevance of every hidden state and of every block's
    /// attention probabilities, for one input and the target class (relprop.rs).
    fn lrp_relevance(
        &self,
        input: &ModelInput,
        mask_bias: Option<&Tensor>,
        target: usize,
    ) -> Result<relprop::LrpRelevance>;

    fn num_layers(&self) -> usize {
        self.config().num_layers
    }

    /// Logits (b, classes) of a (padded) batch, without gradients: the blocks on the explicit
    /// engine where it applies (engine/), else on candle.
    fn logits(&self, input: &ModelInput) -> Result<Tensor> {
        let h0 = self.embed(input, &self.input_embeddings(input)?)?;
        let bias = input.mask_bias(self.dtype())?;
        self.logits_from(&h0, bias.as_ref())
    }

    /// [`Encoder::logits`] from h^(0).
    fn logits_from(&self, h0: &Tensor, mask_bias: Option<&Tensor>) -> Result<Tensor> {
        let last = match self.runtime().engine.select(|| self.engine())? {
            Some(engine) => engine.run_blocks(h0, mask_bias, self.runtime())?,
            None => {
                let out = self.blocks(h0, mask_bias, 0, &[])?;
                out.hidden.last().cloned().unwrap_or_else(|| h0.clone())
            }
        };
        self.head(&last)
    }

    /// Full forward pass with every hidden state and attention map.
    fn forward(&self, input: &ModelInput) -> Result<ForwardOutput> {
        let h0 = self.embed(input, &self.input_embeddings(input)?)?;
        let bias = input.mask_bias(self.dtype())?;
        let out = self.blocks(&h0, bias.as_ref(), 0, &[])?;
        let last = out.hidden.last().cloned().unwrap_or_else(|| h0.clone());
        let logits = self.head(&last)?;
        let mut hidden_states = vec![h0];
        hidden_states.extend(out.hidden);
        Ok(ForwardOutput {
            logits,
            hidden_states,
            attentions: out.attentions,
        })
    }
}

pub(crate) fn no_head_error(cfg: &ModelConfig) -> crate::error::CaligError {
    let architecture = cfg.architecture.as_deref().unwrap_or("unknown");
    let hint = if architecture.ends_with("ForCausalLM") {
        "; explain what a causal language model generates with --continuation TEXT"
    } else {
        ""
    };
    crate::error::CaligError::Unsupported(format!(
        "this {} checkpoint has no sequence-classification head (architecture {architecture}); \
         calig needs a *ForSequenceClassification / *ForImageClassification checkpoint{hint}",
        cfg.model_type,
    ))
}
