//! The one [`Encoder`] implementation: family-specific embeddings and head around the shared
//! block stack.

use super::block::{run_blocks, Block, BlocksOutput};
use super::linear::Linear;
use super::{no_head_error, Encoder, ModelConfig, ModelInput};
use crate::error::Result;
use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_nn::VarBuilder;

/// Input embeddings of a family (see [`Encoder::input_embeddings`] and [`Encoder::embed`]).
pub trait Embeddings: Send + Sync {
    fn input_embeddings(&self, input: &ModelInput) -> Result<Tensor>;
    fn embed(&self, input: &ModelInput, input_embeds: &Tensor) -> Result<Tensor>;
}

/// Classification head of a family: h^(L) (b, s, d) to logits (b, classes).
pub trait Head: Send + Sync {
    fn forward(&self, h_last: &Tensor) -> Result<Tensor>;
}

#[derive(Debug, Clone, Copy)]
pub enum DenseActivation {
    Tanh,
    Relu,
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
    fn forward(&self, h: &Tensor) -> Result<Tensor> {
        let x = self.dense.forward(&h.i((.., 0, ..))?)?;
        let x = match self.activation {
            DenseActivation::Tanh => x.tanh()?,
            DenseActivation::Relu => x.relu()?,
        };
        Ok(self.classifier.forward(&x)?)
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
    pub dtype: DType,
    pub device: Device,
}

impl Encoder for Classifier {
    fn config(&self) -> &ModelConfig {
        &self.config
    }
    fn dtype(&self) -> DType {
        self.dtype
    }
    fn device(&self) -> &Device {
        &self.device
    }
    fn input_embeddings(&self, input: &ModelInput) -> Result<Tensor> {
        self.embeddings.input_embeddings(input)
    }
    fn embed(&self, input: &ModelInput, input_embeds: &Tensor) -> Result<Tensor> {
        self.embeddings.embed(input, input_embeds)
    }
    fn blocks(
        &self,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        from: usize,
        probes: &[Tensor],
    ) -> Result<BlocksOutput> {
        Ok(run_blocks(&self.blocks, h, mask_bias, from, probes)?)
    }
    fn block(
        &self,
        index: usize,
        h: &Tensor,
        mask_bias: Option<&Tensor>,
        probe: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let block = self.blocks.get(index).ok_or_else(|| {
            crate::error::CaligError::InvalidInput(format!(
                "no block {index}: the model has {}",
                self.blocks.len()
            ))
        })?;
        Ok(block.forward(h, mask_bias, probe)?)
    }
    fn head(&self, h_last: &Tensor) -> Result<Tensor> {
        match &self.head {
            Some(h) => h.forward(h_last),
            None => Err(no_head_error(&self.config)),
        }
    }
    fn has_head(&self) -> bool {
        self.head.is_some()
    }
}
