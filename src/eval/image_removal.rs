//! Removing image patches: a removed patch's pixels take a fill value, by default 0 in the
//! normalised space (the data set's mean colour, as Chefer et al.'s ViT perturbation code does),
//! or black (pixel 0 before normalisation, the image methods' default reference); units are the
//! patches of the model's grid, row-major, \[CLS\] never removed (it is not an input).

use super::distinct_inputs::distinct_in_parallel;
use super::faithfulness::Predictor;
use crate::attr::baseline::Baseline;
use crate::error::Result;
use crate::explain::softmax;
use crate::model::{Encoder, ImageInput, ModelInput};
use candle_core::{DType, Tensor};
use strum::{EnumMessage, IntoStaticStr, VariantArray};

/// What a removed patch's pixels become (`calig eval --image-removal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[derive(VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "kebab-case")]
pub enum ImageRemoval {
    /// 0 in the normalised space: the data set's mean colour (Chefer et al.'s ViT code).
    #[default]
    Grey,
    /// Pixel value 0 before normalisation: the `--baseline black` that IG, occlusion and CA-LIG
    /// integrate from by default.
    Black,
}

impl ImageRemoval {
    /// The attribution reference whose pixels a removed patch takes (`grey` is the normalised 0
    /// as a reference image).
    pub fn baseline(&self) -> Baseline {
        match self {
            Self::Grey => Baseline::Grey,
            Self::Black => Baseline::Black,
        }
    }

    /// How the tables' header describes it.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Grey => "patch set to 0 (normalised pixels)",
            Self::Black => "patch set to black (pixel 0 before normalisation)",
        }
    }
}

pub struct ImagePredictor<'a> {
    pub model: &'a dyn Encoder,
    /// The preprocessed image, (1, c, h, w).
    pub pixels: Tensor,
    /// What removed pixels become, the shape of `pixels`.
    pub fill: Tensor,
    pub patch: usize,
    fixed: Vec<bool>,
}

impl<'a> ImagePredictor<'a> {
    pub fn new(model: &'a dyn Encoder, pixels: Tensor, fill: Tensor, patch: usize) -> Result<Self> {
        let (_, _, h, w) = pixels.dims4()?;
        let patches = (h / patch) * (w / patch);
        Ok(Self {
            model,
            pixels,
            fill,
            patch,
            fixed: vec![false; patches],
        })
    }

    fn run(&self, keeps: &[Vec<bool>]) -> Result<Vec<Vec<f64>>> {
        let mut out = Vec::with_capacity(keeps.len());
        for chunk in keeps.chunks(64) {
            let batch = chunk
                .iter()
                .map(|k| mask_patches(&self.pixels, &self.fill, self.patch, k))
                .collect::<Result<Vec<_>>>()?;
            let pixel_values = Tensor::cat(&batch, 0)?;
            let logits = self
                .model
                .logits(&ModelInput::Image(ImageInput { pixel_values }))?
                .to_dtype(DType::F64)?
                .to_vec2::<f64>()?;
            out.extend(logits.iter().map(|l| softmax(l)));
        }
        Ok(out)
    }
}

/// `pixels` (1, c, h, w) with the patches whose `keep` is false taken from `fill` (same shape).
pub fn mask_patches(pixels: &Tensor, fill: &Tensor, patch: usize, keep: &[bool]) -> Result<Tensor> {
    let (_, c, h, w) = pixels.dims4()?;
    let gw = w / patch;
    let mask: Vec<f32> = (0..h * w)
        .map(|i| {
            let (y, x) = (i / w, i % w);
            f32::from(u8::from(keep[(y / patch) * gw + x / patch]))
        })
        .collect();
    let mask = Tensor::from_vec(mask, (1, 1, h, w), pixels.device())?
        .to_dtype(pixels.dtype())?
        .broadcast_as((1, c, h, w))?;
    // pixels·mask + fill·(1 − mask): with a zero fill, exactly the kept pixels and zeros.
    Ok(((pixels * &mask)? + (fill * (1.0 - &mask)?)?)?)
}

impl Predictor for ImagePredictor<'_> {
    fn len(&self) -> usize {
        self.fixed.len()
    }

    fn fixed(&self) -> &[bool] {
        &self.fixed
    }

    fn probs(&self, keeps: &[Vec<bool>]) -> Result<Vec<Vec<f64>>> {
        distinct_in_parallel(self.model.runtime(), keeps, |_| 0, |chunk| self.run(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn removed_patches_take_the_fill_and_kept_ones_stay() -> Result<()> {
        let px = Tensor::arange(1f32, 33.0, &Device::Cpu)?.reshape((1, 2, 4, 4))?;
        let keep = [true, false, false, true];
        let m = mask_patches(&px, &px.zeros_like()?, 2, &keep)?;
        let v: Vec<f32> = m.flatten_all()?.to_vec1()?;
        // Channel 0, row 0: patch 0 kept (1, 2), patch 1 removed (0, 0).
        assert_eq!(&v[..4], &[1.0, 2.0, 0.0, 0.0]);
        // Channel 1, row 3: patch 2 removed, patch 3 kept (31, 32).
        assert_eq!(&v[28..32], &[0.0, 0.0, 31.0, 32.0]);
        // A black fill of −0.5 in channel 0 and −2 in channel 1.
        let black = Tensor::new(&[-0.5f32, -2.0], &Device::Cpu)?
            .reshape((1, 2, 1, 1))?
            .broadcast_as((1, 2, 4, 4))?
            .contiguous()?;
        let v: Vec<f32> = mask_patches(&px, &black, 2, &keep)?
            .flatten_all()?
            .to_vec1()?;
        assert_eq!(&v[..4], &[1.0, 2.0, -0.5, -0.5]);
        assert_eq!(&v[28..32], &[-2.0, -2.0, 31.0, 32.0]);
        Ok(())
    }
}
