//! BERT (and MiniLM): word + position + token-type embeddings with LayerNorm, post-LN blocks,
//! pooler (dense + tanh on \[CLS\]) and linear classifier. RoBERTa/XLM-R, DistilBERT, ELECTRA
//! and ALBERT reuse the embeddings (see roberta.rs, distilbert.rs, electra.rs, albert.rs);
//! ELECTRA's and ALBERT's are narrower than the blocks and projected to their width.

use super::block::{load_block, load_blocks, BlockNames, Norm};
use super::classifier::{Classifier, DenseActivation, DenseHeadNames, Embeddings, Under};
use super::linear::Linear;
use super::ops::LayerNorm;
use super::rules::Rules;
use super::{ModelConfig, ModelInput, TextInput};
use crate::error::{CaligError, Result};
use crate::runtime::Runtime;
use candle_core::{Module, Tensor};
use candle_nn::{Embedding, VarBuilder};

pub struct BertEmbeddings {
    word: Embedding,
    position: Embedding,
    token_type: Option<Embedding>,
    norm: LayerNorm,
    /// ELECTRA's `embeddings_project`, ALBERT's `embedding_hidden_mapping_in`: the embedding
    /// width to the hidden size (h^(0) is its output, the first block's input).
    project: Option<Linear>,
    vocab_size: usize,
    max_positions: usize,
}

impl BertEmbeddings {
    /// `vb` points at `embeddings`, `project` at the projection to the hidden size where the
    /// family has one. DistilBERT has no token-type table.
    pub fn load(
        vb: VarBuilder,
        project: Option<VarBuilder>,
        cfg: &ModelConfig,
    ) -> candle_core::Result<Self> {
        let d = cfg.embedding_size;
        let token_type = if cfg.type_vocab_size > 0 {
            Some(candle_nn::embedding(
                cfg.type_vocab_size,
                d,
                vb.pp("token_type_embeddings"),
            )?)
        } else {
            None
        };
        Ok(Self {
            word: candle_nn::embedding(cfg.vocab_size, d, vb.pp("word_embeddings"))?,
            position: candle_nn::embedding(
                cfg.max_position_embeddings,
                d,
                vb.pp("position_embeddings"),
            )?,
            token_type,
            norm: LayerNorm::load(vb.pp("LayerNorm"), d, cfg.layer_norm_eps)?,
            project: project
                .map(|p| super::linear::linear(d, cfg.hidden_size, p))
                .transpose()?,
            vocab_size: cfg.vocab_size,
            max_positions: cfg.max_position_embeddings,
        })
    }
}

pub(crate) fn text_of(input: &ModelInput) -> Result<&TextInput> {
    input
        .as_text()
        .ok_or_else(|| CaligError::InvalidInput("this is a text model; an image was given".into()))
}

/// Refuses ids beyond a table before `index_select` sees them.
pub(crate) fn check_ids(ids: &Tensor, limit: usize, what: &str) -> Result<()> {
    let max = ids.flatten_all()?.max(0)?.to_scalar::<u32>()? as usize;
    if max >= limit {
        return Err(CaligError::InvalidInput(format!(
            "{what} {max} is out of range for the model's table of {limit}"
        )));
    }
    Ok(())
}

impl Embeddings for BertEmbeddings {
    fn input_embeddings(&self, input: &ModelInput) -> Result<Tensor> {
        let t = text_of(input)?;
        check_ids(&t.input_ids, self.vocab_size, "token id")?;
        Ok(self.word.forward(&t.input_ids)?)
    }

    fn embed(&self, input: &ModelInput, input_embeds: &Tensor, rules: Rules) -> Result<Tensor> {
        let t = text_of(input)?;
        check_ids(&t.position_ids, self.max_positions, "position id")?;
        let mut e = input_embeds.broadcast_add(&self.position.forward(&t.position_ids)?)?;
        if let Some(tt) = &self.token_type {
            e = e.broadcast_add(&tt.forward(&t.token_type_ids)?)?;
        }
        let e = self.norm.forward_with(&e, rules)?;
        Ok(match &self.project {
            Some(p) => p.forward(&e)?,
            None => e,
        })
    }
}

/// BERT-layout block names (shared by RoBERTa / XLM-R).
pub const BERT_BLOCK: BlockNames = BlockNames {
    query: "attention.self.query",
    key: "attention.self.key",
    value: "attention.self.value",
    attention_output: "attention.output.dense",
    attention_norm: "attention.output.LayerNorm",
    ffn_in: "intermediate.dense",
    ffn_out: "output.dense",
    ffn_norm: "output.LayerNorm",
    norm: Norm::Post,
};

/// A text family: BERT-style embeddings under `embeddings`, the shared block under `encoder`
/// with the family's tensor names, and a dense head.
pub struct TextFamily {
    pub encoder: &'static str,
    pub block: BlockNames,
    pub layers: Layers,
    /// The projection from the embedding width to the hidden size, under the base model.
    pub projection: Option<&'static str>,
    pub head: DenseHeadNames,
}

/// Where a family's blocks are.
pub enum Layers {
    /// One set of weights per layer, at `<encoder>.layer.N`.
    PerLayer,
    /// One set of weights at `<encoder>` applied at every layer (ALBERT).
    Shared,
}

/// BERT and MiniLM: pooler (dense + tanh on \[CLS\], under the base model) and classifier.
pub const BERT: TextFamily = TextFamily {
    encoder: "encoder",
    block: BERT_BLOCK,
    layers: Layers::PerLayer,
    projection: None,
    head: DenseHeadNames {
        probe: "classifier.weight",
        dense: (Under::Base, "pooler.dense"),
        classifier: "classifier",
        activation: DenseActivation::Tanh,
    },
};

/// A text classifier of `family`; `base` points at the encoder weights (`bert.` or the root),
/// `root` at the checkpoint root.
pub fn load(
    family: &TextFamily,
    base: &VarBuilder,
    root: &VarBuilder,
    cfg: &ModelConfig,
    runtime: &Runtime,
) -> candle_core::Result<Classifier> {
    let blocks = match family.layers {
        Layers::PerLayer => load_blocks(base.pp(family.encoder), cfg, &family.block)?,
        // Each application of the shared block is a layer of its own to every method.
        Layers::Shared => {
            vec![load_block(base.pp(family.encoder), cfg, &family.block)?; cfg.num_layers]
        }
    };
    Ok(Classifier::new(
        cfg,
        Box::new(BertEmbeddings::load(
            base.pp("embeddings"),
            // ELECTRA has its projection only where the widths differ.
            family
                .projection
                .filter(|p| base.contains_tensor(&format!("{p}.weight")))
                .map(|p| base.pp(p)),
            cfg,
        )?),
        blocks,
        family.head.load(base, root, cfg)?,
        runtime,
    ))
}
