//! RoBERTa / XLM-R (and AfroLM, which shares the architecture): BERT embeddings and blocks, with
//! position ids counted from the padding index and a dense + tanh + out_proj head on `<s>`.

use super::bert::{Layers, TextFamily, BERT_BLOCK};
use super::classifier::{DenseActivation, DenseHeadNames, Under};

/// HF `create_position_ids_from_input_ids`: non-pad tokens get pad+1, pad+2, ...; pads get pad.
pub fn position_ids(input_ids: &[u32], pad: u32) -> Vec<u32> {
    let mut count = 0;
    input_ids
        .iter()
        .map(|&id| {
            if id == pad {
                pad
            } else {
                count += 1;
                pad + count
            }
        })
        .collect()
}

/// RoBERTa / XLM-R: BERT's block names, dense + tanh + out_proj head on `<s>`, at the root.
pub const ROBERTA: TextFamily = TextFamily {
    encoder: "encoder",
    block: BERT_BLOCK,
    layers: Layers::PerLayer,
    projection: None,
    head: DenseHeadNames {
        probe: "classifier.out_proj.weight",
        dense: (Under::Root, "classifier.dense"),
        classifier: "classifier.out_proj",
        activation: DenseActivation::Tanh,
    },
};

#[cfg(test)]
mod tests {
    #[test]
    fn positions_skip_padding() {
        assert_eq!(
            super::position_ids(&[0, 5, 6, 2, 1, 1], 1),
            vec![2, 3, 4, 5, 1, 1]
        );
    }
}
