//! RoBERTa / XLM-R (and AfroLM, which shares the architecture): BERT embeddings and blocks, with
//! position ids counted from the padding index and a dense + tanh + out_proj head on <s>.

use super::bert::{text_classifier, BERT_BLOCK};
use super::classifier::{head_if, Classifier, DenseActivation, DenseHead};
use super::ModelConfig;
use candle_core::{DType, Device};
use candle_nn::VarBuilder;

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

pub fn load(
    base: VarBuilder,
    root: VarBuilder,
    cfg: &ModelConfig,
    dtype: DType,
    device: &Device,
) -> candle_core::Result<Classifier> {
    let head = head_if(&root, "classifier.out_proj.weight", || {
        DenseHead::load(
            root.pp("classifier.dense"),
            root.pp("classifier.out_proj"),
            cfg,
            DenseActivation::Tanh,
        )
    })?;
    text_classifier(&base, "encoder", &BERT_BLOCK, head, cfg, dtype, device)
}

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
