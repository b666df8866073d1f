//! Removing image patches: a removed patch's normalised pixels are set to 0 (the data set's mean
//! colour after normalisation), as Chefer et al.'s ViT perturbation code does; units are the
//! patches of the model's grid, row-major, [CLS] never removed (it is not an input).

use super::faithfulness::Predictor;
use super::removal::distinct_in_parallel;
use crate::error::Result;
use crate::explain::softmax;
use crate::model::{Encoder, ImageInput, ModelInput};
use candle_core::{DType, Tensor};

pub struct ImagePredictor<'a> {
    pub model: &'a dyn Encoder,
    /// The preprocessed image, (1, c, h, w).
    pub pixels: Tensor,
    pub patch: usize,
    fixed: Vec<bool>,
}

impl<'a> ImagePredictor<'a> {
    pub fn new(model: &'a dyn Encoder, pixels: Tensor, patch: usize) -> Result<Self> {
        let (_, _, h, w) = pixels.dims4()?;
        let patches = (h / patch) * (w / patch);
        Ok(Self {
            model,
            pixels,
            patch,
            fixed: vec![false; patches],
        })
    }

    fn run(&self, keeps: &[Vec<bool>]) -> Result<Vec<Vec<f64>>> {
        let mut out = Vec::with_capacity(keeps.len());
        for chunk in keeps.chunks(64) {
            let batch = chunk
                .iter()
                .map(|k| mask_patches(&self.pixels, self.patch, k))
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

/// `pixels` (1, c, h, w) with the patches whose `keep` is false set to 0.
pub fn mask_patches(pixels: &Tensor, patch: usize, keep: &[bool]) -> Result<Tensor> {
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
    Ok((pixels * mask)?)
}

impl Predictor for ImagePredictor<'_> {
    fn len(&self) -> usize {
        self.fixed.len()
    }

    fn fixed(&self) -> &[bool] {
        &self.fixed
    }

    fn probs(&self, keeps: &[Vec<bool>]) -> Result<Vec<Vec<f64>>> {
        distinct_in_parallel(keeps, |chunk| self.run(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn removed_patches_become_zero_and_kept_ones_stay() -> Result<()> {
        let px = Tensor::arange(1f32, 33.0, &Device::Cpu)?.reshape((1, 2, 4, 4))?;
        let m = mask_patches(&px, 2, &[true, false, false, true])?;
        let v: Vec<f32> = m.flatten_all()?.to_vec1()?;
        // Channel 0, row 0: patch 0 kept (1, 2), patch 1 removed (0, 0).
        assert_eq!(&v[..4], &[1.0, 2.0, 0.0, 0.0]);
        // Channel 1, row 3: patch 2 removed, patch 3 kept (31, 32).
        assert_eq!(&v[28..32], &[0.0, 0.0, 31.0, 32.0]);
        Ok(())
    }
}
