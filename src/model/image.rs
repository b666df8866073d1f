//! Image preprocessing from `preprocessor_config.json` (HF `ViTImageProcessor` semantics):
//! resize, rescale, normalise, channels first.

use crate::error::{CaligError, Result};
use candle_core::{DType, Device, Tensor};
use image::imageops::FilterType;
use serde_json::Value;
use std::path::Path;

/// The largest image side and decoded size calig accepts.
const MAX_SIDE: u32 = 16384;
const MAX_DECODED_BYTES: u64 = 1 << 30;

/// Decodes an image file (any format `image` knows, EXIF orientation applied), refusing sizes
/// beyond calig's limits before the decoder allocates and images without pixels.
pub fn decode(path: &Path) -> Result<image::DynamicImage> {
    let reader = image::ImageReader::open(path).map_err(|e| CaligError::io(path, e))?;
    decode_from(reader, path)
}

/// [`decode`] for a file's bytes already in memory (an upload); `name` stands for its path in
/// errors. The same limits and orientation, so that the same file gives the same pixels.
pub fn decode_bytes(bytes: &[u8], name: &Path) -> Result<image::DynamicImage> {
    decode_from(image::ImageReader::new(std::io::Cursor::new(bytes)), name)
}

fn decode_from<R: std::io::BufRead + std::io::Seek>(
    reader: image::ImageReader<R>,
    path: &Path,
) -> Result<image::DynamicImage> {
    use image::ImageDecoder;
    let bad = |e: image::ImageError| CaligError::Image {
        path: path.to_path_buf(),
        reason: format!("cannot decode: {e}"),
    };
    let mut decoder = reader
        .with_guessed_format()
        .map_err(|e| CaligError::io(path, e))?
        .into_decoder()
        .map_err(bad)?;
    // A header may announce any size: refuse what cannot be a real image before the decoder
    // allocates for it (found by fuzzing: a 207 × 2,130,706,460 PNG aborted the process).
    let (w, h) = decoder.dimensions();
    let bytes = decoder.total_bytes();
    if w > MAX_SIDE || h > MAX_SIDE || bytes > MAX_DECODED_BYTES {
        return Err(CaligError::Image {
            path: path.to_path_buf(),
            reason: format!(
                "{w}x{h} pixels ({bytes} bytes decoded) is beyond calig's limit of \
                 {MAX_SIDE} pixels a side and {} MiB",
                MAX_DECODED_BYTES >> 20
            ),
        });
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    decoder.set_limits(limits).map_err(bad)?;
    let orientation = decoder.orientation().map_err(bad)?;
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(bad)?;
    img.apply_orientation(orientation);
    if img.width() == 0 || img.height() == 0 {
        return Err(CaligError::Image {
            path: path.to_path_buf(),
            reason: "the image has no pixels".into(),
        });
    }
    Ok(img)
}

#[derive(Debug, Clone)]
pub struct ImageProcessor {
    pub do_resize: bool,
    pub height: usize,
    pub width: usize,
    pub filter: FilterType,
    pub do_rescale: bool,
    pub rescale_factor: f64,
    pub do_normalize: bool,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub channels: usize,
}

impl ImageProcessor {
    /// Defaults of HF `ViTImageProcessor`, sized for the model.
    pub fn default_for(image_size: usize, channels: usize) -> Self {
        Self {
            do_resize: true,
            height: image_size,
            width: image_size,
            filter: FilterType::Triangle,
            do_rescale: true,
            rescale_factor: 1.0 / 255.0,
            do_normalize: true,
            mean: vec![0.5; channels],
            std: vec![0.5; channels],
            channels,
        }
    }

    pub fn from_file(path: &Path, image_size: usize, channels: usize) -> Result<Self> {
        let invalid = |reason: String| CaligError::InvalidFile {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| CaligError::io(path, e))?;
        let v: Value =
            serde_json::from_str(&text).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
        let mut p = Self::default_for(image_size, channels);
        p.do_resize = v["do_resize"].as_bool().unwrap_or(true);
        if let Some(h) = v["size"]["height"].as_u64() {
            p.height = h as usize;
            p.width = v["size"]["width"].as_u64().unwrap_or(h) as usize;
        } else if let Some(s) = v["size"].as_u64() {
            (p.height, p.width) = (s as usize, s as usize);
        }
        p.filter = match v["resample"].as_u64().unwrap_or(2) {
            0 => FilterType::Nearest,
            2 => FilterType::Triangle,
            3 => FilterType::CatmullRom,
            1 => FilterType::Lanczos3,
            other => return Err(invalid(format!("unsupported resample filter {other}"))),
        };
        p.do_rescale = v["do_rescale"].as_bool().unwrap_or(true);
        p.rescale_factor = v["rescale_factor"].as_f64().unwrap_or(1.0 / 255.0);
        p.do_normalize = v["do_normalize"].as_bool().unwrap_or(true);
        let floats = |key: &str| -> Option<Vec<f64>> {
            match &v[key] {
                Value::Array(a) => a.iter().map(Value::as_f64).collect(),
                Value::Number(n) => n.as_f64().map(|x| vec![x; channels]),
                _ => None,
            }
        };
        if let Some(m) = floats("image_mean") {
            p.mean = m;
        }
        if let Some(s) = floats("image_std") {
            p.std = s;
        }
        if p.mean.len() != channels || p.std.len() != channels {
            return Err(invalid(format!(
                "image_mean/image_std must have {channels} values"
            )));
        }
        Ok(p)
    }

    /// Decodes an image file (any colour type the decoders know: grey, RGBA, 16-bit, palette)
    /// with its EXIF orientation applied, as transformers' `load_image` does, and preprocesses
    /// it into (1, c, h, w). Also returns the decoded (height, width), before any resizing.
    pub fn load(&self, path: &Path, dtype: DType, device: &Device) -> Result<(Tensor, [usize; 2])> {
        let img = decode(path)?;
        let size = [img.height() as usize, img.width() as usize];
        Ok((self.preprocess(&img, dtype, device)?, size))
    }

    pub fn preprocess(
        &self,
        img: &image::DynamicImage,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let img = if self.do_resize
            && (img.width() as usize, img.height() as usize) != (self.width, self.height)
        {
            img.resize_exact(self.width as u32, self.height as u32, self.filter)
        } else {
            img.clone()
        };
        let (w, h) = (img.width() as usize, img.height() as usize);
        let raw: Vec<u8> = if self.channels == 1 {
            img.to_luma8().into_raw()
        } else {
            img.to_rgb8().into_raw()
        };
        let c = self.channels;
        let mut out = vec![0f64; c * h * w];
        for (i, &v) in raw.iter().enumerate() {
            let (pixel, ch) = (i / c, i % c);
            let mut x = v as f64;
            if self.do_rescale {
                x *= self.rescale_factor;
            }
            if self.do_normalize {
                x = (x - self.mean[ch]) / self.std[ch];
            }
            out[ch * h * w + pixel] = x;
        }
        Ok(Tensor::from_vec(out, (1, c, h, w), device)?.to_dtype(dtype)?)
    }

    /// The normalised value of a black pixel per channel (the `black` baseline).
    pub fn black(&self) -> Vec<f64> {
        (0..self.channels)
            .map(|ch| {
                if self.do_normalize {
                    -self.mean[ch] / self.std[ch]
                } else {
                    0.0
                }
            })
            .collect()
    }
}
/// The note a report gives when an image was resized: sizes as width × height (`from` and `to`
/// are `[height, width]`, as the JSON's `resized_from` and `image_size`).
pub fn resize_note([fh, fw]: [usize; 2], [th, tw]: [usize; 2]) -> String {
    format!("the image was resized from {fw}×{fh} to {tw}×{th} pixels (width × height), the model's input size")
}
