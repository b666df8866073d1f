//! Turning a model argument (built-in name, local directory, Hugging Face hub id) into a loaded
//! model with its tokenizer or image processor.

use super::config::{Family, ModelConfig};
use super::image::ImageProcessor;
use super::text::TextTokenizer;
use super::weights::{read_checkpoint, Checkpoint};
use super::{albert, bert, decoder, distilbert, electra, gpt2, modernbert, roberta, vit, Encoder};
use crate::error::{CaligError, Result};
use crate::runtime::Runtime;
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use std::path::{Path, PathBuf};

/// Where a model comes from.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// A local checkpoint directory.
    Dir(PathBuf),
    /// A snapshot in the local Hugging Face hub cache.
    HubCache { id: String, dir: PathBuf },
    /// A built-in model shipped with calig.
    BuiltIn { name: String, dir: PathBuf },
}

impl ModelSource {
    pub fn dir(&self) -> &Path {
        match self {
            Self::Dir(d) | Self::HubCache { dir: d, .. } | Self::BuiltIn { dir: d, .. } => d,
        }
    }

    pub fn name(&self) -> String {
        match self {
            Self::Dir(d) => d.display().to_string(),
            Self::HubCache { id, .. } => id.clone(),
            Self::BuiltIn { name, .. } => name.clone(),
        }
    }
}

/// The built-in model `calig explain TEXT` uses.
pub const DEFAULT_TEXT_MODEL: &str = "minilm-sst2";
/// The built-in model `calig explain --image P` uses.
pub const DEFAULT_IMAGE_MODEL: &str = "vit-fashion-mae";

/// The built-in model for text or for images.
pub fn default_model(is_text: bool) -> &'static str {
    if is_text {
        DEFAULT_TEXT_MODEL
    } else {
        DEFAULT_IMAGE_MODEL
    }
}

/// Directories searched for built-in models: the install root (`$CALIG_MODELS`, else `models/`
/// of the source tree the binary was built from, else of the user data directory), the user
/// data directory's `models/`, then `./models`.
pub fn builtin_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![
        super::builtin::install_root(),
        super::builtin::user_data_dir().join("models"),
        PathBuf::from("models"),
    ];
    dirs.dedup();
    dirs
}

/// The hub cache root: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
fn hub_cache() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("HF_HUB_CACHE") {
        return Some(PathBuf::from(d));
    }
    if let Ok(d) = std::env::var("HF_HOME") {
        return Some(PathBuf::from(d).join("hub"));
    }
    std::env::var("HOME")
        .ok()
        .map(|h| PathBuf::from(h).join(".cache/huggingface/hub"))
}

/// The snapshot directory of `id` in the hub cache (`models--org--name/snapshots/<refs/main>`).
fn hub_snapshot(id: &str) -> Option<PathBuf> {
    let repo = hub_cache()?.join(format!("models--{}", id.replace('/', "--")));
    let snapshots = repo.join("snapshots");
    if let Ok(rev) = std::fs::read_to_string(repo.join("refs/main")) {
        let dir = snapshots.join(rev.trim());
        if dir.is_dir() {
            return Some(dir);
        }
    }
    // No refs/main: take the only (or newest) snapshot.
    let mut entries: Vec<_> = std::fs::read_dir(&snapshots).ok()?.flatten().collect();
    entries.sort_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
    entries.last().map(|e| e.path())
}

/// A spec that can only be a path, never a hub id (`org/name`) or a built-in name: absolute,
/// relative with `.`/`~`, or with more than one `/`.
fn looks_like_a_path(spec: &str) -> bool {
    spec.starts_with(['/', '.', '~', '\\'])
        || spec.contains('\\')
        || spec.matches('/').count() > 1
        || spec.ends_with('/')
}

pub fn resolve(spec: &str) -> Result<ModelSource> {
    let path = Path::new(spec);
    if path.is_dir() {
        return Ok(ModelSource::Dir(path.to_path_buf()));
    }
    if !spec.contains('/') {
        for d in builtin_dirs() {
            let dir = d.join(spec);
            if dir.join("config.json").is_file() {
                return Ok(ModelSource::BuiltIn {
                    name: spec.to_string(),
                    dir,
                });
            }
        }
    }
    if let Some(dir) = hub_snapshot(spec) {
        return Ok(ModelSource::HubCache {
            id: spec.to_string(),
            dir,
        });
    }
    if super::builtin::source_root()
        .join(spec)
        .join("config.json")
        .is_file()
    {
        return Err(CaligError::ModelNotFound(format!(
            "built-in model `{spec}` is not installed: run `calig models install {spec}` \
             (scripts/setup.sh installs all of them)"
        )));
    }
    if looks_like_a_path(spec) {
        return Err(CaligError::ModelNotFound(format!(
            "`{spec}`: no such directory (a checkpoint directory holds config.json, the weights \
             and, for text, tokenizer.json)"
        )));
    }
    Err(CaligError::ModelNotFound(format!(
        "`{spec}` is not a directory, an installed built-in model (looked in {}; see `calig \
         models`), or a hub id in the local Hugging Face cache ({}); calig never downloads: \
         fetch it first, e.g. with `huggingface-cli download {spec}`",
        builtin_dirs()
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        hub_cache().map_or("unset".into(), |p| p.display().to_string())
    )))
}

/// A model ready to run, with what is needed to turn raw inputs into model inputs.
pub struct LoadedModel {
    pub source: ModelSource,
    pub config: ModelConfig,
    pub model: Box<dyn Encoder>,
    pub tokenizer: Option<TextTokenizer>,
    pub image_processor: Option<ImageProcessor>,
    pub num_parameters: usize,
    pub weight_files: Vec<PathBuf>,
    /// What loading had to assume (a missing optional file), for the user to see.
    pub notes: Vec<String>,
}

/// Builds the encoder of `cfg` from checkpoint tensors, to run as `runtime` says.
pub fn build_encoder(
    ckpt: &Checkpoint,
    cfg: &ModelConfig,
    dir: &Path,
    runtime: &Runtime,
) -> Result<Box<dyn Encoder>> {
    let probe = match cfg.family {
        Family::Vit => "embeddings.cls_token",
        Family::Gpt2 => "wte.weight",
        Family::ModernBert => "embeddings.tok_embeddings.weight",
        f if f.is_decoder() => "embed_tokens.weight",
        _ => "embeddings.word_embeddings.weight",
    };
    let prefix = ckpt
        .base_prefix(cfg.family.base_prefix(), probe)
        .ok_or_else(|| CaligError::Weights {
            path: dir.to_path_buf(),
            reason: format!(
                "no tensor `{probe}` or `{}.{probe}`: not a {:?} checkpoint",
                cfg.family.base_prefix(),
                cfg.family
            ),
        })?;
    let root = VarBuilder::from_tensors(ckpt.tensors.clone(), runtime.dtype, &runtime.device);
    let base = if prefix.is_empty() {
        root.clone()
    } else {
        root.pp(&prefix)
    };
    fn boxed<E: Encoder + 'static>(
        e: candle_core::Result<E>,
    ) -> candle_core::Result<Box<dyn Encoder>> {
        Ok(Box::new(e?))
    }
    let text = |family| boxed(bert::load(family, &base, &root, cfg, runtime));
    let built = match cfg.family {
        Family::Bert => text(&bert::BERT),
        Family::Roberta | Family::XlmRoberta => text(&roberta::ROBERTA),
        Family::DistilBert => text(&distilbert::DISTILBERT),
        Family::Electra => text(&electra::ELECTRA),
        Family::Albert => text(&albert::ALBERT),
        Family::Vit => boxed(vit::load(&base, &root, cfg, runtime)),
        Family::Llama | Family::Qwen2 | Family::Mistral => {
            boxed(decoder::Decoder::load(&base, &root, cfg, runtime))
        }
        Family::Gpt2 => boxed(gpt2::Gpt2::load(&base, &root, cfg, runtime)),
        Family::ModernBert => boxed(modernbert::ModernBert::load(&base, &root, cfg, runtime)),
    };
    built.map_err(|e| CaligError::Weights {
        path: dir.to_path_buf(),
        reason: e.to_string().lines().next().unwrap_or_default().to_string(),
    })
}

/// tokenizer_config.json, when present and valid JSON.
fn tokenizer_config(dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("tokenizer_config.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// `model_max_length` from tokenizer_config.json, when present and sensible.
fn tokenizer_max_length(config: Option<&serde_json::Value>) -> Option<usize> {
    config?["model_max_length"]
        .as_f64()
        .filter(|x| (1.0..1e9).contains(x))
        .map(|x| x as usize)
}

/// Loads `spec` (a built-in name, a checkpoint directory or a cached hub id) in `dtype` on
/// `device`, with the engine and worker count of the environment ([`Runtime::from_env`]);
/// [`load_model_with`] takes the runtime from the caller.
pub fn load_model(spec: &str, dtype: DType, device: &Device) -> Result<LoadedModel> {
    load_model_with(spec, &Runtime::from_env(dtype, device.clone()))
}

/// Loads `spec` to run as `runtime` says.
pub fn load_model_with(spec: &str, runtime: &Runtime) -> Result<LoadedModel> {
    let source = resolve(spec)?;
    let dir = source.dir().to_path_buf();
    let config = ModelConfig::from_file(&dir.join("config.json"))?;
    let ckpt = read_checkpoint(&dir)?;
    let model = build_encoder(&ckpt, &config, &dir, runtime)?;
    let (mut tokenizer, mut image_processor, mut notes) = (None, None, Vec::new());
    if config.family.is_text() {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            let slow = [
                "vocab.txt",
                "vocab.json",
                "sentencepiece.bpe.model",
                "spiece.model",
            ]
            .into_iter()
            .find(|f| dir.join(f).is_file());
            let hint = match slow {
                Some(f) => format!(
                    "; this checkpoint has only the slow tokenizer's {f}: write tokenizer.json \
                     with transformers, `AutoTokenizer.from_pretrained(\"{}\").save_pretrained(\"{}\")` \
                     (it converts to the fast tokenizer)",
                    dir.display(),
                    dir.display()
                ),
                None => String::new(),
            };
            return Err(CaligError::InvalidFile {
                path,
                reason: format!(
                    "missing: calig needs the fast tokenizer file tokenizer.json{hint}"
                ),
            });
        }
        let tok_config = tokenizer_config(&dir);
        let mut max = config.max_sequence_length();
        if let Some(m) = tokenizer_max_length(tok_config.as_ref()) {
            max = max.min(m);
        }
        let truncate_left = tok_config
            .as_ref()
            .is_some_and(|c| c["truncation_side"] == "left");
        tokenizer = Some(TextTokenizer::from_file(&path, max, truncate_left)?);
    } else {
        let ic = config.image.as_ref().expect("image config");
        let path = dir.join("preprocessor_config.json");
        image_processor = Some(if path.is_file() {
            ImageProcessor::from_file(&path, ic.image_size, ic.num_channels)?
        } else {
            notes.push(format!(
                "{} is missing: using ViTImageProcessor's defaults (resize to {}x{}, \
                 rescale 1/255, mean 0.5, std 0.5)",
                path.display(),
                ic.image_size,
                ic.image_size
            ));
            ImageProcessor::default_for(ic.image_size, ic.num_channels)
        });
    }
    Ok(LoadedModel {
        notes,
        source,
        num_parameters: ckpt.num_parameters(),
        weight_files: ckpt.files.clone(),
        config,
        model,
        tokenizer,
        image_processor,
    })
}

impl LoadedModel {
    pub fn dtype(&self) -> DType {
        self.model.dtype()
    }

    pub fn device(&self) -> &Device {
        self.model.device()
    }

    /// Where and how the model runs.
    pub fn runtime(&self) -> &Runtime {
        self.model.runtime()
    }

    /// The same checkpoint loaded again to compute in `dtype` (same device and workers).
    pub fn in_dtype(&self, dtype: DType) -> Result<LoadedModel> {
        let dir = self.source.dir();
        let spec = dir.to_str().ok_or_else(|| CaligError::InvalidFile {
            path: dir.to_path_buf(),
            reason: "the model's folder name is not UTF-8".into(),
        })?;
        load_model_with(
            spec,
            &Runtime {
                dtype,
                ..self.runtime().clone()
            },
        )
    }

    /// The logits of the first (usually only) row of `input`, as f64. Non-finite logits are an
    /// error that names the first weight tensor holding NaN or Inf.
    pub fn logits(&self, input: &super::ModelInput) -> Result<Vec<f64>> {
        let logits = self.model.logits(input)?;
        let v: Vec<f64> = logits.get(0)?.to_dtype(DType::F64)?.to_vec1()?;
        if v.iter().all(|x| x.is_finite()) {
            return Ok(v);
        }
        let culprit = self.first_non_finite_weight();
        Err(CaligError::InvalidFile {
            path: culprit
                .as_ref()
                .map_or_else(|| self.source.dir().to_path_buf(), |(f, _)| f.clone()),
            reason: match culprit {
                Some((_, name)) => format!(
                    "the model's logits are not finite: tensor `{name}` holds NaN or Inf values"
                ),
                None => "the model's logits are not finite (NaN or Inf) although every \
                         safetensors weight is finite: the activations overflow"
                    .into(),
            },
        })
    }

    /// The first safetensors weight (file, tensor name) with a NaN or Inf value.
    fn first_non_finite_weight(&self) -> Option<(PathBuf, String)> {
        for file in self
            .weight_files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "safetensors"))
        {
            let Ok(tensors) = candle_core::safetensors::load(file, &Device::Cpu) else {
                continue;
            };
            let mut names: Vec<&String> = tensors.keys().collect();
            names.sort();
            for name in names {
                let t = &tensors[name];
                if !t.dtype().is_float() {
                    continue;
                }
                let finite = t
                    .to_dtype(DType::F64)
                    .and_then(|t| t.flatten_all()?.to_vec1::<f64>())
                    .map(|v| v.iter().all(|x| x.is_finite()));
                if matches!(finite, Ok(false)) {
                    return Some((file.clone(), name.clone()));
                }
            }
        }
        None
    }

    /// Tokenises one text into a batch of one.
    pub fn prepare_text(&self, text: &str) -> Result<(super::text::Encoded, super::ModelInput)> {
        self.prepare_pair(text, None)
    }

    /// [`LoadedModel::prepare_text`] for a text or, with `pair`, a sentence pair.
    pub fn prepare_pair(
        &self,
        text: &str,
        pair: Option<&str>,
    ) -> Result<(super::text::Encoded, super::ModelInput)> {
        let tok = self.tokenizer.as_ref().ok_or_else(|| {
            CaligError::InvalidInput(format!(
                "{} is an image model: give it an image, not text",
                self.source.name()
            ))
        })?;
        if text.trim().is_empty() {
            return Err(CaligError::InvalidInput("the text is empty".into()));
        }
        if pair.is_some_and(|p| p.trim().is_empty()) {
            return Err(CaligError::InvalidInput(
                "the second text of the pair is empty".into(),
            ));
        }
        let enc = tok.encode_pair(text, pair)?;
        let input = super::text::batch(
            &self.config,
            std::slice::from_ref(&enc.ids),
            std::slice::from_ref(&enc.type_ids),
            self.device(),
        )?;
        Ok((enc, super::ModelInput::Text(input)))
    }

    fn processor(&self) -> Result<&ImageProcessor> {
        self.image_processor.as_ref().ok_or_else(|| {
            CaligError::InvalidInput(format!(
                "{} is a text model: give it text, not an image",
                self.source.name()
            ))
        })
    }

    /// Preprocesses a decoded image into a batch of one; also returns its (height, width).
    pub fn prepare_decoded_image(
        &self,
        img: &image::DynamicImage,
    ) -> Result<(super::ModelInput, [usize; 2])> {
        let pixel_values = self
            .processor()?
            .preprocess(img, self.dtype(), self.device())?;
        Ok((
            super::ModelInput::Image(super::ImageInput { pixel_values }),
            [img.height() as usize, img.width() as usize],
        ))
    }

    /// Decodes and preprocesses one image file into a batch of one; also returns the decoded
    /// (height, width) before resizing.
    pub fn prepare_image(&self, path: &Path) -> Result<(super::ModelInput, [usize; 2])> {
        let (pixel_values, size) = self.processor()?.load(path, self.dtype(), self.device())?;
        Ok((
            super::ModelInput::Image(super::ImageInput { pixel_values }),
            size,
        ))
    }
}
