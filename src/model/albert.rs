//! ALBERT (`AlbertForSequenceClassification`): factorised embeddings (BERT's at
//! `embedding_size`, then `encoder.embedding_hidden_mapping_in` to the hidden size), one post-LN
//! block whose weights every layer shares, and BERT's pooler + classifier. Layer-wise methods
//! attribute each application of the shared block as a layer of its own.

use super::bert::{Layers, TextFamily};
use super::block::{BlockNames, Norm};
use super::classifier::{DenseActivation, DenseHeadNames, Under};

const ALBERT_BLOCK: BlockNames = BlockNames {
    query: "attention.query",
    key: "attention.key",
    value: "attention.value",
    attention_output: "attention.dense",
    attention_norm: "attention.LayerNorm",
    ffn_in: "ffn",
    ffn_out: "ffn_output",
    ffn_norm: "full_layer_layer_norm",
    norm: Norm::Post,
};

pub const ALBERT: TextFamily = TextFamily {
    encoder: "encoder.albert_layer_groups.0.albert_layers.0",
    block: ALBERT_BLOCK,
    layers: Layers::Shared,
    projection: Some("encoder.embedding_hidden_mapping_in"),
    head: DenseHeadNames {
        probe: "classifier.weight",
        dense: (Under::Base, "pooler"),
        classifier: "classifier",
        activation: DenseActivation::Tanh,
    },
};
