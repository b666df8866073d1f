//! ViT (`ViTForImageClassification`; also DeiT-style and MAE-fine-tuned ViTs saved in this
//! layout): conv patch embedding, \[CLS\], learned positions, pre-LN blocks, final LayerNorm and a
//! linear classifier on \[CLS\] (or on the mean of the patch tokens, config `"pooling": "mean"`).

use super::block::{load_blocks, BlockNames, Norm};
use super::classifier::{head_if, Classifier, Embeddings, Head};
use super::linear::Linear;
use super::ops::LayerNorm;
use super::relprop;
use super::rules::Rules;
use super::{ImageInput, ModelConfig, ModelInput, Pooling};
use crate::error::{CaligError, Result};
use crate::runtime::Runtime;
use candle_core::{IndexOp, Module, Tensor};
use candle_nn::VarBuilder;

struct VitEmbeddings {
    cls_token: Tensor,
    position: Tensor,
    patch_weight: Tensor,
    patch_bias: Tensor,
    patch_size: usize,
    image_size: usize,
    channels: usize,
}

fn image_of(input: &ModelInput) -> Result<&ImageInput> {
    match input {
        ModelInput::Image(i) => Ok(i),
        ModelInput::Text(_) => Err(CaligError::InvalidInput(
            "this is an image model: give it an image, not text".into(),
        )),
    }
}

impl Embeddings for VitEmbeddings {
    fn input_embeddings(&self, input: &ModelInput) -> Result<Tensor> {
        let px = &image_of(input)?.pixel_values;
        let (_, c, h, w) = px.dims4()?;
        if (c, h, w) != (self.channels, self.image_size, self.image_size) {
            return Err(CaligError::InvalidInput(format!(
                "pixel values of shape {c}x{h}x{w}, the model expects {}x{}x{}",
                self.channels, self.image_size, self.image_size
            )));
        }
        Ok(px.clone())
    }

    /// Linear in the pixels: the same under every rule set.
    fn embed(&self, _input: &ModelInput, pixels: &Tensor, _rules: Rules) -> Result<Tensor> {
        // Non-overlapping patches: the stride-p convolution is a matmul over flattened patches
        // (candle's f64 conv2d loses precision, and this form is exact in both dtypes).
        let (b, c, h, w) = pixels.dims4()?;
        let p = self.patch_size;
        let (gh, gw) = (h / p, w / p);
        let d = self.patch_weight.dim(0)?;
        let flat_patches = pixels
            .reshape((b, c, gh, p, gw, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .reshape((b * gh * gw, c * p * p))?;
        let kernel = self.patch_weight.reshape((d, c * p * p))?;
        let patches = flat_patches
            .matmul(&kernel.t()?)?
            .broadcast_add(&self.patch_bias)?
            .reshape((b, gh * gw, d))?;
        let cls = self.cls_token.broadcast_as((b, 1, d))?;
        Ok(Tensor::cat(&[&cls, &patches], 1)?.broadcast_add(&self.position)?)
    }
}

struct VitHead {
    norm: LayerNorm,
    classifier: Linear,
    pooling: Pooling,
}

impl Head for VitHead {
    fn forward(&self, h: &Tensor, rules: Rules) -> Result<Tensor> {
        let h = self.norm.forward_with(h, rules)?;
        let pooled = match self.pooling {
            Pooling::Cls => h.i((.., 0, ..))?,
            Pooling::Mean => {
                let n = h.dim(1)?;
                h.narrow(1, 1, n - 1)?.mean(1)?
            }
        };
        Ok(self.classifier.forward(&pooled)?)
    }

    fn relprop(&self, h: &Tensor, r_logits: &Tensor) -> Result<Tensor> {
        // The final LayerNorm passes relevance unchanged.
        let hn = self.norm.forward(h)?;
        Ok(match self.pooling {
            Pooling::Cls => {
                let pooled = hn.i((.., 0, ..))?;
                let r = relprop::linear_rule(&self.classifier, &pooled, r_logits)?;
                relprop::first_token_rule(&hn, &r)?
            }
            Pooling::Mean => {
                let n = hn.dim(1)?;
                let pooled = hn.narrow(1, 1, n - 1)?.mean(1)?;
                let r = relprop::linear_rule(&self.classifier, &pooled, r_logits)?;
                relprop::patch_mean_rule(&hn, &r)?
            }
        })
    }
}

const VIT_BLOCK: BlockNames = BlockNames {
    query: "attention.attention.query",
    key: "attention.attention.key",
    value: "attention.attention.value",
    attention_output: "attention.output.dense",
    attention_norm: "layernorm_before",
    ffn_in: "intermediate.dense",
    ffn_out: "output.dense",
    ffn_norm: "layernorm_after",
    norm: Norm::Pre,
};

/// `base` points at the ViTModel weights (`vit.` or the root), `root` at the checkpoint root.
pub fn load(
    base: &VarBuilder,
    root: &VarBuilder,
    cfg: &ModelConfig,
    runtime: &Runtime,
) -> candle_core::Result<Classifier> {
    let d = cfg.hidden_size;
    let ic = cfg.image.as_ref().expect("ViT config has image settings");
    let grid = ic.grid();
    let e = base.pp("embeddings");
    let p = e.pp("patch_embeddings.projection");
    let embeddings = VitEmbeddings {
        cls_token: e.get((1, 1, d), "cls_token")?,
        position: e.get((1, grid * grid + 1, d), "position_embeddings")?,
        patch_weight: p.get((d, ic.num_channels, ic.patch_size, ic.patch_size), "weight")?,
        patch_bias: p.get(d, "bias")?,
        patch_size: ic.patch_size,
        image_size: ic.image_size,
        channels: ic.num_channels,
    };
    let head = head_if(root, "classifier.weight", || {
        Ok(VitHead {
            norm: LayerNorm::load(base.pp("layernorm"), d, cfg.layer_norm_eps)?,
            classifier: super::linear::linear(d, cfg.labels.len(), root.pp("classifier"))?,
            pooling: cfg.pooling,
        })
    })?;
    Ok(Classifier::new(
        cfg,
        Box::new(embeddings),
        load_blocks(base.pp("encoder"), cfg, &VIT_BLOCK)?,
        head,
        runtime,
    ))
}
