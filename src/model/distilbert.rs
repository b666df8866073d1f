//! DistilBERT: BERT-style embeddings without token types, post-LN blocks with DistilBERT weight
//! names, and a pre_classifier (dense + ReLU) + classifier head on [CLS].

use super::bert::text_classifier;
use super::block::{BlockNames, Norm};
use super::classifier::{head_if, Classifier, DenseActivation, DenseHead};
use super::ModelConfig;
use candle_core::{DType, Device};
use candle_nn::VarBuilder;

const DISTILBERT_BLOCK: BlockNames = BlockNames {
    query: "attention.q_lin",
    key: "attention.k_lin",
    value: "attention.v_lin",
    attention_output: "attention.out_lin",
    attention_norm: "sa_layer_norm",
    ffn_in: "ffn.lin1",
    ffn_out: "ffn.lin2",
    ffn_norm: "output_layer_norm",
    norm: Norm::Post,
};

pub fn load(
    base: VarBuilder,
    root: VarBuilder,
    cfg: &ModelConfig,
    dtype: DType,
    device: &Device,
) -> candle_core::Result<Classifier> {
    let head = head_if(&root, "classifier.weight", || {
        DenseHead::load(
            root.pp("pre_classifier"),
            root.pp("classifier"),
            cfg,
            DenseActivation::Relu,
        )
    })?;
    text_classifier(
        &base,
        "transformer",
        &DISTILBERT_BLOCK,
        head,
        cfg,
        dtype,
        device,
    )
}
