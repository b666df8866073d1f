//! DistilBERT: BERT-style embeddings without token types, post-LN blocks with DistilBERT weight
//! names, and a pre_classifier (dense + ReLU) + classifier head on \[CLS\].

use super::bert::{Layers, TextFamily};
use super::block::{BlockNames, Norm};
use super::classifier::{DenseActivation, DenseHeadNames, Under};

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

/// DistilBERT: its block names under `transformer`, pre_classifier (dense + ReLU) and
/// classifier at the root.
pub const DISTILBERT: TextFamily = TextFamily {
    encoder: "transformer",
    block: DISTILBERT_BLOCK,
    layers: Layers::PerLayer,
    projection: None,
    head: DenseHeadNames {
        probe: "classifier.weight",
        dense: (Under::Root, "pre_classifier"),
        classifier: "classifier",
        activation: DenseActivation::Relu,
    },
};
