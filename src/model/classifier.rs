//! The one [`Encoder`] implementation: family-specific embeddings and head around the shared
//! block stack.

use super::block::{run_blocks, Block, BlocksOutput};
use super::linear::Linear;
use super::relprop;
use super::rules::{identity_rule, Rules};
use super::{no_head_error, Encoder, ModelConfig, ModelInput};
use crate::error::Result;
use crate::runtime::Runtime;
use candle_core::{IndexOp, Module, Tensor};
use candle_nn::VarBuilder;

/// Input embeddings of a family (see [`Encoder::input_embeddings`] and [`Encoder::embed`]).
pub trait Embeddings: Send + Sync {
    fn input_embeddings(&self, input: &ModelInput) -> Result<Tensor>;
    fn embed(&self, input: &ModelInput, input_embeds: &Tensor, rules: Rules) -> Result<Tensor>;
}

/// Classification head of a family: h^(L) (b, s, d) to logits (b, classes).
pub trait Head: Send + Sync {
    fn forward(&self, h_last: &Tensor, rules: Rules) -> Result<Tensor>;
    /// Relevance at h^(L) from the relevance at the logits, by Chefer's LRP rules (relprop.rs).
    fn relprop(&self, h_last: &Tensor, r_logits: &Tensor) -> Result<Tensor>;
}

#[derive(Debug, Clone, Copy)]
pub enum DenseActivation {
    Tanh,
    Relu,
    /// The exact (erf) GELU: ELECTRA's head.
    Gelu,
}

impl DenseActivation {
    fn forward(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Tanh => x.tanh(),
            Self::Relu => x.relu(),
            // The blocks' GELU: exact in f64 (candle's own gelu_erf backward is not).
            Self::Gelu => super::ops::Activation::Gelu.forward(x),
        }
    }
}

/// The text heads: dense + activation on the first token, then a linear classifier (BERT's
/// pooler + classifier, RoBERTa's dense + out_proj, DistilBERT's pre_classifier + classifier).
pub struct DenseHead {
    dense: Linear,
    activation: DenseActivation,
    classifier: Linear,
}

impl DenseHead {
    pub fn load(
        dense: VarBuilder,
        classifier: VarBuilder,
        cfg: &ModelConfig,
        activation: DenseActivation,
    ) -> candle_core::Result<Self> {
        let d = cfg.hidden_size;
        Ok(Self {
            dense: super::linear::linear(d, d, dense)?,
            activation,
            classifier: super::linear::linear(d, cfg.labels.len(), classifier)?,
        })
    }
}

impl Head for DenseHead {
    fn forward(&self, h: &Tensor, rules: Rules) -> Result<Tensor> {
        let x = self.dense.forward(&h.i((.., 0, ..))?)?;
        let y = self.activation.forward(&x)?;
        let y = identity_rule(&x, &y, rules)?;
        Ok(self.classifier.forward(&y)?)
    }

    fn relprop(&self, h: &Tensor, r_logits: &Tensor) -> Result<Tensor> {
        let first = h.i((.., 0, ..))?;
        let x = self.dense.forward(&first)?;
        let y = self.activation.forward(&x)?;
        // The activation passes relevance unchanged.
        let r_x = relprop::linear_rule(&self.classifier, &y, r_logits)?;
        let r_first = relprop::linear_rule(&self.dense, &first, &r_x)?;
        Ok(relprop::first_token_rule(h, &r_first)?)
    }
}

/// Where a text head's dense layer sits: under the base model (BERT's pooler) or at the
/// checkpoint root.
#[derive(Debug, Clone, Copy)]
pub enum Under {
    Base,
    Root,
}

/// The tensor names of a text family's dense head.
#[derive(Debug, Clone, Copy)]
pub struct DenseHeadNames {
    /// The tensor whose presence says the checkpoint has a head (bare encoders have none).
    pub probe: &'static str,
    pub dense: (Under, &'static str),
    /// The linear classifier, at the root.
    pub classifier: &'static str,
    pub activation: DenseActivation,
}

impl DenseHeadNames {
    /// The head, when the checkpoint has one.
    pub fn load(
        &self,
        base: &VarBuilder,
        root: &VarBuilder,
        cfg: &ModelConfig,
    ) -> candle_core::Result<Option<Box<dyn Head>>> {
        head_if(root, self.probe, || {
            let dense = match self.dense.0 {
                Under::Base => base.pp(self.dense.1),
                Under::Root => root.pp(self.dense.1),
            };
            DenseHead::load(dense, root.pp(self.classifier), cfg, self.activation)
        })
    }
}

/// Loads the head when the checkpoint has `tensor` (bare encoders have none).
pub fn head_if<H: Head + 'static>(
    root: &VarBuilder,
    tensor: &str,
    load: impl FnOnce() -> candle_core::Result<H>,
) -> candle_core::Result<Option<Box<dyn Head>>> {
    if root.contains_tensor(tensor) {
        Ok(Some(Box::new(load()?)))
    } else {
        Ok(None)
    }
}

pub struct Classifier {
    pub config: ModelConfig,
    pub embeddings: Box<dyn Embeddings>,
    pub blocks: Vec<Block>,
    pub head: Option<Box<dyn Head>>,
    pub runtime: Runtime,
    /// The explicit engine's copy of the block weights, made on first use.
    pub engine: std::sync::OnceLock<Option<crate::engine::Engine>>,
}

impl Classifier {
    pub fn new(
        config: &ModelConfig,
        embeddings: Box<dyn Embeddings>,
        blocks: Vec<Block>,
        head: Option<Box<dyn Head>>,
        runtime: &Runtime,
    ) -> Self {
        Self {
            config: config.clone(),
            embeddings,
            blocks,
            head,
            runtime: runtime.clone(),
            engine: Default::default(),
        }
    }
}

impl Classifier {
    fn block_at(&self, index: usize) -> Result<&Block> {
        super::block::block_at(&self.blocks, index)
    }
}

impl Encoder for Classifier {
    fn engine(&self) -> Result<Option<&crate::engine::Engine>> {
        if let Some(e) = self.engine.get() {
            return Ok(e.as_ref());
        }
        let built = super::engine_weights::engine_for(
            &self.blocks,
            self.reads_first_token(),
            &self.runtime,
        )?;
        // Another thread may have won the race; both built the same thing.
        let _ = self.engine.set(built);
        Ok(self.engine.get().and_then(Option::as_ref))
    }

    fn config(&self) -> &ModelConfig {
        &self.config
    }
    fn runtime(&self) -> &Runtime {
        &self.runtime
    }
    fn input_embeddings(&self, input: &ModelInput) -> Result<Tensor> {
        self.embeddings.input_embeddings(input)
    }
    fn embed_with(
        &self,
        input: &ModelInput,
        input_embeds: &Tensor,
        rules: Rules,
    ) -> Result<Tensor> {
        self.embeddings.embed(input, input_embeds, rules)
    }
    fn blocks_with(
        &self,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        from: usize,
        probes: &[Tensor],
        rules: Rules,
    ) -> Result<BlocksOutput> {
        Ok(run_blocks(&self.blocks, h, mask_bias, from, probes, rules)?)
    }
    fn block_with(
        &self,
        index: usize,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        probe: Option<&Tensor>,
        rules: Rules,
    ) -> Result<(Tensor, Tensor)> {
        let block = self.block_at(index)?;
        Ok(block.forward(h, mask_bias, probe, rules)?)
    }
    fn reads_first_token(&self) -> bool {
        // Every text head and ViT's [CLS] pooling read h^(L) at the first token only.
        self.config.family.is_text() || self.config.pooling == super::Pooling::Cls
    }
    fn readout_block(
        &self,
        index: usize,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        probe: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        if !self.reads_first_token() {
            return Err(crate::error::CaligError::Internal(
                "a readout block for a head that reads every token".into(),
            ));
        }
        let block = self.block_at(index)?;
        Ok(block.forward_rows(h, mask_bias, probe, Rules::Gradient, true)?)
    }
    fn head_with(&self, h_last: &Tensor, rules: Rules) -> Result<Tensor> {
        match &self.head {
            Some(h) => h.forward(h_last, rules),
            None => Err(no_head_error(&self.config)),
        }
    }
    fn has_head(&self) -> bool {
        self.head.is_some()
    }
    fn lrp_relevance(
        &self,
        input: &ModelInput,
        mask_bias: Option<&Tensor>,
        target: usize,
    ) -> Result<relprop::LrpRelevance> {
        let head = self
            .head
            .as_ref()
            .ok_or_else(|| no_head_error(&self.config))?;
        let h0 = self.embed(input, &self.input_embeddings(input)?)?;
        let out = run_blocks(&self.blocks, &h0, mask_bias, 0, &[], Rules::Gradient)?;
        let mut block_inputs = vec![h0.clone()];
        block_inputs.extend(
            out.hidden
                .iter()
                .take(self.blocks.len().saturating_sub(1))
                .cloned(),
        );
        let last = out.hidden.last().unwrap_or(&h0);
        let logits = head.forward(last, Rules::Gradient)?;
        let mut r = head.relprop(last, &relprop::target_relevance(&logits, target)?)?;
        let mut hidden = vec![r.squeeze(0)?];
        let mut attention = Vec::with_capacity(self.blocks.len());
        for (block, x) in self.blocks.iter().zip(&block_inputs).rev() {
            let (r_x, r_probs) = block.relprop(x, mask_bias, &r)?;
            attention.push(r_probs.squeeze(0)?);
            hidden.push(r_x.squeeze(0)?);
            r = r_x;
        }
        attention.reverse();
        hidden.reverse();
        Ok(relprop::LrpRelevance { hidden, attention })
    }
}
