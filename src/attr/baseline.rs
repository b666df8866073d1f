//! Baselines (reference inputs) for path and perturbation methods.

use crate::choice::Choice;
use crate::error::{CaligError, Result};
use crate::model::{Encoder, ImageInput, ModelInput, TextInput};
use candle_core::{DType, Tensor};
use serde::Serialize;
use strum::{EnumMessage, IntoStaticStr, VariantArray};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
#[derive(VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "lowercase")]
pub enum Baseline {
    #[default]
    /// Text: every non-special token replaced by the pad token; positions, token types and mask
    /// of the real input (the default for text).
    Pad,
    /// The zero vector in the attributed space (word embeddings or hidden state).
    Zero,
    /// Text: non-special tokens replaced by the mask token.
    Mask,
    /// Text: non-special tokens replaced by the unknown token.
    Unk,
    /// Images: pixel value 0 before normalisation, i.e. (0 - mean)/std (the default for images).
    Black,
    /// Images: the image blurred with a Gaussian (`blur:σ`, σ in pixels; `blur`: σ = one patch).
    Blur,
    /// Images: pixel value 0 after normalisation (the normaliser's mean colour) as a reference
    /// *image*: the input-space methods see the same pixels as `zero`, but the layer methods
    /// start from this image's hidden states h'^(l), not from the zero hidden state.
    Grey,
    /// Of this input's references (text: pad, mask, unk, zero; images: black, blur, grey,
    /// zero), the one whose predicted class distribution is closest to uniform (the highest
    /// entropy, i.e. the least KL divergence from uniform): a reference the model does not class.
    Neutral,
    /// Expected gradients (`expected:N`): N references drawn with `seed` from `reference_data`,
    /// one path each, the attributions averaged.
    Expected,
}

/// A `baseline` value: a name, or `expected:N` / `blur:σ` with their argument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaselineSpec {
    pub baseline: Baseline,
    /// `expected:N`: N (0 for the other references).
    pub samples: usize,
    /// `blur:σ`: σ in pixels (None: one patch).
    pub sigma: Option<f64>,
}

impl BaselineSpec {
    /// `pad`, `expected:8`, `blur:2.5`, ... (names as [`Baseline`]'s, ASCII case ignored).
    pub fn parse(v: &str) -> std::result::Result<Self, String> {
        let (name, arg) = match v.trim().split_once(':') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (v.trim(), None),
        };
        let baseline: Baseline = crate::choice::parse(name)
            .map_err(|_| format!("`{v}` is not one of {}", Self::names().replace('`', "")))?;
        let mut spec = Self {
            baseline,
            samples: 0,
            sigma: None,
        };
        match (baseline, arg) {
            (Baseline::Expected, Some(a)) => match a.parse::<usize>() {
                Ok(n) if n >= 1 => spec.samples = n,
                _ => {
                    return Err(format!(
                        "`{v}`: expected:N takes N, the number of references, a whole number \
                         of at least 1"
                    ))
                }
            },
            (Baseline::Expected, None) => {
                return Err(
                    "`expected` takes the number of references to draw: expected:N, e.g. \
                     expected:8"
                        .into(),
                )
            }
            (Baseline::Blur, Some(a)) => match a.parse::<f64>() {
                Ok(s) if s.is_finite() && s > 0.0 => spec.sigma = Some(s),
                _ => {
                    return Err(format!(
                        "`{v}`: blur:σ takes σ, the Gaussian's standard deviation in pixels, a \
                         positive number"
                    ))
                }
            },
            (_, Some(_)) => return Err(format!("`{v}`: baseline `{name}` takes no argument")),
            (_, None) => {}
        }
        Ok(spec)
    }

    /// The value as users write it: `pad`, `expected:8`, `blur:2.5`.
    pub fn name(&self) -> String {
        match (self.baseline, self.sigma) {
            (Baseline::Expected, _) => format!("expected:{}", self.samples),
            (Baseline::Blur, Some(s)) => format!("blur:{s}"),
            (b, _) => b.name().into(),
        }
    }

    /// The values, for help and docs: `pad`, ..., `blur`, `blur:σ`, ..., `expected:N`.
    pub fn names() -> String {
        let names: Vec<String> = <Baseline as Choice>::all()
            .iter()
            .map(|&b| match b {
                Baseline::Expected => "`expected:N`".to_string(),
                Baseline::Blur => "`blur`, `blur:σ`".to_string(),
                b => format!("`{}`", b.name()),
            })
            .collect();
        names.join(", ")
    }
}

impl Baseline {
    pub fn default_for(is_text: bool) -> Self {
        if is_text {
            Self::Pad
        } else {
            Self::Black
        }
    }
}

pub use crate::model::text::SpecialIds;

/// The reference input of a text input: same sequence with every non-special token replaced;
/// mask, token types and position ids of the real input.
pub fn text_reference(t: &TextInput, special: &[bool], replacement: u32) -> Result<TextInput> {
    let ids: Vec<u32> = t.input_ids.flatten_all()?.to_vec1()?;
    let replaced: Vec<u32> = ids
        .iter()
        .zip(special)
        .map(|(&id, &sp)| if sp { id } else { replacement })
        .collect();
    Ok(TextInput {
        input_ids: Tensor::from_vec(replaced, t.input_ids.shape(), t.input_ids.device())?,
        ..t.clone()
    })
}

/// The token that replaces non-special tokens, for the token baselines.
pub fn replacement_token(baseline: Baseline, ids: SpecialIds) -> Result<Option<u32>> {
    let missing = |what: &str| {
        CaligError::InvalidInput(format!(
            "baseline `{what}`: the tokenizer has no {what} token"
        ))
    };
    Ok(match baseline {
        Baseline::Pad => Some(ids.pad),
        Baseline::Mask => Some(ids.mask.ok_or_else(|| missing("mask"))?),
        Baseline::Unk => Some(ids.unk.ok_or_else(|| missing("unk"))?),
        Baseline::Zero => None,
        Baseline::Neutral | Baseline::Expected => {
            return Err(CaligError::InvalidInput(format!(
                "baseline `{}` stands for other references; resolve it first",
                baseline.name()
            )))
        }
        Baseline::Black | Baseline::Blur | Baseline::Grey => {
            return Err(CaligError::InvalidInput(format!(
                "baseline `{}` is for images; text takes pad, zero, mask, unk, neutral or \
                 expected:N",
                baseline.name()
            )))
        }
    })
}

/// Baseline pixels (1, c, h, w) for an image input.
pub fn image_reference(
    img: &ImageInput,
    baseline: Baseline,
    black: &[f64],
    sigma: f64,
) -> Result<ImageInput> {
    let px = &img.pixel_values;
    let (b, c, h, w) = px.dims4()?;
    let dtype = px.dtype();
    let pixel_values = match baseline {
        Baseline::Black => {
            let per_channel =
                Tensor::from_vec(black.to_vec(), (1, c, 1, 1), px.device())?.to_dtype(dtype)?;
            per_channel.broadcast_as((b, c, h, w))?.contiguous()?
        }
        Baseline::Zero | Baseline::Grey => px.zeros_like()?,
        Baseline::Blur => gaussian_blur(px, sigma)?,
        other => {
            return Err(CaligError::InvalidInput(format!(
                "baseline `{}` is for text; images take black, blur, grey, zero, neutral or \
                 expected:N",
                other.name()
            )))
        }
    };
    Ok(ImageInput { pixel_values })
}

/// Separable Gaussian blur with edge clamping, on (b, c, h, w): weights exp(−i²/2σ²) for
/// |i| ≤ ⌈3σ⌉ (at least 1), normalised to sum 1; a tap beyond the border reads the nearest edge
/// pixel. σ must be positive and at most the image's larger side.
pub(crate) fn gaussian_blur(px: &Tensor, sigma: f64) -> Result<Tensor> {
    let (b, c, h, w) = px.dims4()?;
    if !(sigma > 0.0 && sigma <= h.max(w) as f64) {
        return Err(CaligError::InvalidInput(format!(
            "blur:σ: σ = {sigma} pixels is outside (0, {}], the image's side",
            h.max(w)
        )));
    }
    let radius = (3.0 * sigma).ceil().max(1.0) as isize;
    let kernel: Vec<f64> = (-radius..=radius)
        .map(|i| (-((i * i) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let norm: f64 = kernel.iter().sum();
    let v: Vec<f64> = px.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
    let mut tmp = vec![0.0; v.len()];
    let mut out = vec![0.0; v.len()];
    let clamp = |i: isize, n: usize| i.clamp(0, n as isize - 1) as usize;
    for plane in 0..b * c {
        let base = plane * h * w;
        for y in 0..h {
            for x in 0..w {
                tmp[base + y * w + x] = kernel
                    .iter()
                    .enumerate()
                    .map(|(k, kv)| {
                        kv * v[base + y * w + clamp(x as isize + k as isize - radius, w)]
                    })
                    .sum::<f64>()
                    / norm;
            }
        }
        for y in 0..h {
            for x in 0..w {
                out[base + y * w + x] = kernel
                    .iter()
                    .enumerate()
                    .map(|(k, kv)| {
                        kv * tmp[base + clamp(y as isize + k as isize - radius, h) * w + x]
                    })
                    .sum::<f64>()
                    / norm;
            }
        }
    }
    Ok(Tensor::from_vec(out, (b, c, h, w), px.device())?.to_dtype(px.dtype())?)
}

/// The baseline in the attributed input space (E for text, pixels for images) and as a model
/// input (for the hidden-state baselines of layer methods). `None` input: the zero baseline,
/// whose hidden-state baseline is zero at every layer (images: `grey` is the same pixels with
/// the grey image's hidden states instead).
pub struct ResolvedBaseline {
    pub input_embeddings: Tensor,
    pub input: Option<ModelInput>,
}

pub fn resolve(
    model: &dyn Encoder,
    input: &ModelInput,
    baseline: Baseline,
    special: &[bool],
    ids: Option<SpecialIds>,
    black: &[f64],
    blur_sigma: f64,
) -> Result<ResolvedBaseline> {
    match input {
        ModelInput::Text(t) => {
            let ids =
                ids.ok_or_else(|| CaligError::InvalidInput("no tokenizer special ids".into()))?;
            match replacement_token(baseline, ids)? {
                Some(tok) => {
                    let reference = ModelInput::Text(text_reference(t, special, tok)?);
                    Ok(ResolvedBaseline {
                        input_embeddings: model.input_embeddings(&reference)?,
                        input: Some(reference),
                    })
                }
                None => Ok(ResolvedBaseline {
                    input_embeddings: model.input_embeddings(input)?.zeros_like()?,
                    input: None,
                }),
            }
        }
        ModelInput::Image(img) => {
            let reference = image_reference(img, baseline, black, blur_sigma)?;
            let as_input = ModelInput::Image(reference.clone());
            Ok(ResolvedBaseline {
                input_embeddings: reference.pixel_values,
                input: if baseline == Baseline::Zero {
                    None
                } else {
                    Some(as_input)
                },
            })
        }
    }
}
