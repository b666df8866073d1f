//! ELECTRA (`ElectraForSequenceClassification`): BERT's embeddings at `embedding_size`, projected
//! to the hidden size (`electra.embeddings_project`, when the widths differ) before BERT's
//! post-LN blocks, and a dense + GELU + out_proj head on \[CLS\] at the root.

use super::bert::{Layers, TextFamily, BERT_BLOCK};
use super::classifier::{DenseActivation, DenseHeadNames, Under};

pub const ELECTRA: TextFamily = TextFamily {
    encoder: "encoder",
    block: BERT_BLOCK,
    layers: Layers::PerLayer,
    projection: Some("embeddings_project"),
    head: DenseHeadNames {
        probe: "classifier.out_proj.weight",
        dense: (Under::Root, "classifier.dense"),
        classifier: "classifier.out_proj",
        activation: DenseActivation::Gelu,
    },
};
