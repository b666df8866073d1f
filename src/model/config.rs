//! The parts of a Hugging Face `config.json` that calig's encoders need.

use super::ops::Activation;
use crate::error::{CaligError, Result};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;

/// Model families calig implements (their HF `model_type`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    Bert,
    Roberta,
    XlmRoberta,
    DistilBert,
    Electra,
    Albert,
    Vit,
    /// Decoder classifiers (`…ForSequenceClassification` over a causal LM): Llama, Qwen2 and
    /// Mistral share one block (decoder.rs).
    Llama,
    Qwen2,
    Mistral,
    /// GPT-2 (`GPT2ForSequenceClassification`): learned positions, pre-LN blocks (gpt2.rs).
    Gpt2,
    /// ModernBERT (`ModernBertForSequenceClassification`): a bidirectional encoder with rotary
    /// positions, alternating global and local (windowed) attention and GeGLU (modernbert.rs).
    ModernBert,
}

impl Family {
    pub fn from_model_type(t: &str) -> Option<Self> {
        match t {
            "bert" => Some(Self::Bert),
            "roberta" => Some(Self::Roberta),
            "xlm-roberta" => Some(Self::XlmRoberta),
            "distilbert" => Some(Self::DistilBert),
            "electra" => Some(Self::Electra),
            "albert" => Some(Self::Albert),
            "vit" => Some(Self::Vit),
            "llama" => Some(Self::Llama),
            "qwen2" => Some(Self::Qwen2),
            "mistral" => Some(Self::Mistral),
            "gpt2" => Some(Self::Gpt2),
            "modernbert" => Some(Self::ModernBert),
            _ => None,
        }
    }

    /// Weight-name prefix of the base model in `*ForSequenceClassification` checkpoints.
    pub fn base_prefix(&self) -> &'static str {
        match self {
            Self::Bert => "bert",
            Self::Roberta | Self::XlmRoberta => "roberta",
            Self::DistilBert => "distilbert",
            Self::Electra => "electra",
            Self::Albert => "albert",
            Self::Vit => "vit",
            Self::Llama | Self::Qwen2 | Self::Mistral | Self::ModernBert => "model",
            Self::Gpt2 => "transformer",
        }
    }

    pub fn is_text(&self) -> bool {
        !matches!(self, Self::Vit)
    }

    /// Causal decoders, whose head reads the last token.
    pub fn is_decoder(&self) -> bool {
        self.is_rotary() || *self == Self::Gpt2
    }

    /// The decoders with rotary positions and the block of decoder.rs.
    pub fn is_rotary(&self) -> bool {
        matches!(self, Self::Llama | Self::Qwen2 | Self::Mistral)
    }
}

/// How the ViT head pools the final hidden states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The \[CLS\] token (HF `ViTForImageClassification`).
    Cls,
    /// Mean of the patch tokens (\[CLS\] excluded), as MAE fine-tuning with global pooling does.
    Mean,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageConfig {
    pub image_size: usize,
    pub patch_size: usize,
    pub num_channels: usize,
}

impl ImageConfig {
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelConfig {
    pub family: Family,
    pub model_type: String,
    pub architecture: Option<String>,
    pub num_layers: usize,
    pub hidden_size: usize,
    /// Width of the token embeddings: the hidden size, except in ELECTRA and ALBERT, whose
    /// embeddings are projected to the hidden size before the first block.
    pub embedding_size: usize,
    pub num_heads: usize,
    pub intermediate_size: usize,
    #[serde(skip)]
    pub activation: Activation,
    pub layer_norm_eps: f64,
    pub vocab_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub pad_token_id: u32,
    pub labels: Vec<String>,
    pub image: Option<ImageConfig>,
    pub pooling: Pooling,
    /// What only decoder families have.
    pub decoder: Option<DecoderConfig>,
    /// What only ModernBERT has.
    pub modernbert: Option<ModernBertConfig>,
}

/// ModernBERT's layout: which layers attend globally, the two rotary bases, the local window
/// and the biases (`norm_bias`, `attention_bias`, `mlp_bias`, `classifier_bias`).
#[derive(Debug, Clone, Serialize)]
pub struct ModernBertConfig {
    /// Per layer: true for global (`full_attention`), false for local (`sliding_attention`).
    pub global: Vec<bool>,
    pub global_rope: Rope,
    pub local_rope: Rope,
    /// A local query sees the keys within `local_attention / 2` positions of it.
    pub local_attention: usize,
    pub norm_bias: bool,
    pub attention_bias: bool,
    pub mlp_bias: bool,
    pub classifier_bias: bool,
    #[serde(skip)]
    pub classifier_activation: Activation,
}

/// The decoder block's shape: grouped-query attention, rotary positions, biases.
#[derive(Debug, Clone, Serialize)]
pub struct DecoderConfig {
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub rope: Rope,
    /// Biases on the query, key and value projections (Qwen2; Llama's `attention_bias`).
    pub qkv_bias: bool,
    /// A bias on the attention output projection (Llama's `attention_bias`).
    pub output_bias: bool,
    pub mlp_bias: bool,
    /// Mistral's (and Qwen2's, when used) sliding window: a query sees that many tokens.
    pub sliding_window: Option<usize>,
    /// The language-model head is the token embedding matrix (`tie_word_embeddings`).
    pub tied_lm_head: bool,
}

/// Rotary position embeddings: θ and the inverse-frequency rule.
#[derive(Debug, Clone, Serialize)]
pub struct Rope {
    pub theta: f64,
    pub scaling: RopeScaling,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "rope_type", rename_all = "lowercase")]
pub enum RopeScaling {
    Default,
    /// Positions divided by `factor`.
    Linear {
        factor: f64,
    },
    /// Llama 3.1's frequency-dependent rescaling.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
}
impl ModelConfig {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| CaligError::io(path, e))?;
        let value: Value = serde_json::from_str(&text).map_err(|e| CaligError::InvalidFile {
            path: path.to_path_buf(),
            reason: format!("not valid JSON: {e}"),
        })?;
        Self::from_json(&value).map_err(|reason| CaligError::InvalidFile {
            path: path.to_path_buf(),
            reason,
        })
    }

    pub fn from_json(v: &Value) -> std::result::Result<Self, String> {
        let model_type = v["model_type"]
            .as_str()
            .ok_or("missing `model_type`")?
            .to_string();
        let family = Family::from_model_type(&model_type).ok_or_else(|| {
            format!(
                "unsupported model_type `{model_type}` (calig supports bert, roberta, \
                 xlm-roberta, distilbert, electra, albert, vit, llama, qwen2, mistral, gpt2, \
                 modernbert)"
            )
        })?;
        let get = |key: &str| -> std::result::Result<usize, String> {
            v[key]
                .as_u64()
                .map(|x| x as usize)
                .ok_or_else(|| format!("missing or non-integer `{key}`"))
        };
        let get_or = |key: &str, default: usize| v[key].as_u64().map_or(default, |x| x as usize);
        let act_name = |key: &str, default: &str| v[key].as_str().unwrap_or(default).to_string();
        let distil = family == Family::DistilBert;
        let gpt2 = family == Family::Gpt2;
        let modern = family == Family::ModernBert;
        let (num_layers, hidden_size, num_heads, intermediate_size, act) = if gpt2 {
            let d = get("n_embd")?;
            (
                get("n_layer")?,
                d,
                get("n_head")?,
                get_or("n_inner", 4 * d),
                act_name("activation_function", "gelu_new"),
            )
        } else if distil {
            (
                get("n_layers")?,
                get("dim")?,
                get("n_heads")?,
                get("hidden_dim")?,
                act_name("activation", "gelu"),
            )
        } else {
            (
                get("num_hidden_layers")?,
                get("hidden_size")?,
                get("num_attention_heads")?,
                get("intermediate_size")?,
                if modern {
                    act_name("hidden_activation", "gelu")
                } else {
                    act_name(
                        "hidden_act",
                        if family.is_decoder() { "silu" } else { "gelu" },
                    )
                },
            )
        };
        // Decoders may name their own head_dim (hidden ≠ heads × head_dim).
        let explicit_head_dim = family.is_decoder() && v["head_dim"].is_u64();
        if num_heads == 0 || (hidden_size % num_heads != 0 && !explicit_head_dim) {
            return Err(format!(
                "hidden size {hidden_size} is not divisible by {num_heads} heads"
            ));
        }
        let decoder = if family.is_rotary() {
            Some(decoder_config(v, family, hidden_size, num_heads)?)
        } else {
            None
        };
        let activation = if family.is_rotary() {
            if act != "silu" {
                return Err(format!(
                    "unsupported hidden_act `{act}` for {model_type} (calig's decoder block is \
                     SwiGLU: silu)"
                ));
            }
            // Unused: the decoder block has its own gated unit.
            Activation::Gelu
        } else {
            Activation::from_hf(&act)?
        };
        if family == Family::Albert
            && (get_or("num_hidden_groups", 1), get_or("inner_group_num", 1)) != (1, 1)
        {
            return Err("calig supports ALBERT with one group of one shared layer \
                        (num_hidden_groups = inner_group_num = 1, as in every released ALBERT)"
                .into());
        }
        let embedding_size = match family {
            Family::Electra | Family::Albert => get_or("embedding_size", hidden_size),
            _ => hidden_size,
        };
        let image = if family == Family::Vit {
            let ic = ImageConfig {
                image_size: get("image_size")?,
                patch_size: get("patch_size")?,
                num_channels: get_or("num_channels", 3),
            };
            if ic.patch_size == 0 || ic.image_size % ic.patch_size != 0 {
                return Err(format!(
                    "image_size {} is not a multiple of patch_size {}",
                    ic.image_size, ic.patch_size
                ));
            }
            Some(ic)
        } else {
            None
        };
        let labels = parse_labels(v)?;
        let pooling_key = if modern {
            "classifier_pooling"
        } else {
            "pooling"
        };
        let pooling = match v[pooling_key].as_str() {
            None | Some("cls") => Pooling::Cls,
            Some("mean") => Pooling::Mean,
            Some(other) => {
                return Err(format!(
                    "unsupported `{pooling_key}` `{other}` (cls or mean)"
                ))
            }
        };
        let modernbert = if modern {
            Some(modernbert_config(v, num_layers)?)
        } else {
            None
        };
        Ok(Self {
            family,
            model_type,
            architecture: v["architectures"][0].as_str().map(str::to_string),
            num_layers,
            hidden_size,
            embedding_size,
            num_heads,
            intermediate_size,
            activation,
            layer_norm_eps: v["layer_norm_eps"]
                .as_f64()
                .or(v["rms_norm_eps"].as_f64())
                .or(v["layer_norm_epsilon"].as_f64())
                .or(v["norm_eps"].as_f64())
                .unwrap_or(match family {
                    Family::ModernBert => 1e-5,
                    f if f.is_decoder() => 1e-6,
                    _ => 1e-12,
                }),
            vocab_size: if family.is_text() {
                get("vocab_size")?
            } else {
                0
            },
            max_position_embeddings: if gpt2 {
                get("n_positions")?
            } else if family.is_text() {
                get("max_position_embeddings")?
            } else {
                0
            },
            type_vocab_size: if distil || !family.is_text() || family.is_decoder() || modern {
                0
            } else {
                get_or("type_vocab_size", 2)
            },
            pad_token_id: v["pad_token_id"]
                .as_u64()
                .or_else(|| family.is_decoder().then(|| first_id(&v["eos_token_id"]))?)
                .unwrap_or(0) as u32,
            labels,
            image,
            pooling,
            decoder,
            modernbert,
        })
    }

    pub fn head_dim(&self) -> usize {
        match &self.decoder {
            Some(d) => d.head_dim,
            None => self.hidden_size / self.num_heads,
        }
    }

    /// Longest token sequence the position embeddings allow.
    pub fn max_sequence_length(&self) -> usize {
        match self.family {
            // RoBERTa positions start after the padding index.
            Family::Roberta | Family::XlmRoberta => self
                .max_position_embeddings
                .saturating_sub(self.pad_token_id as usize + 1),
            _ => self.max_position_embeddings,
        }
    }

    pub fn label_index(&self, name_or_index: &str) -> Option<usize> {
        if let Some(i) = self.labels.iter().position(|l| l == name_or_index) {
            return Some(i);
        }
        let lower = name_or_index.to_lowercase();
        if let Some(i) = self.labels.iter().position(|l| l.to_lowercase() == lower) {
            return Some(i);
        }
        name_or_index
            .parse::<usize>()
            .ok()
            .filter(|&i| i < self.labels.len())
    }
}

/// An id given as a number or as a list of numbers (the first).
fn first_id(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.get(0)?.as_u64())
}

/// The decoder fields of `config.json` (transformers ≥ 5 writes `rope_parameters`, earlier
/// versions `rope_theta` and `rope_scaling`).
fn decoder_config(
    v: &Value,
    family: Family,
    hidden_size: usize,
    num_heads: usize,
) -> std::result::Result<DecoderConfig, String> {
    let num_kv_heads = v["num_key_value_heads"]
        .as_u64()
        .map_or(num_heads, |x| x as usize);
    if num_kv_heads == 0 || num_heads % num_kv_heads != 0 {
        return Err(format!(
            "{num_heads} attention heads cannot share {num_kv_heads} key/value heads"
        ));
    }
    let head_dim = v["head_dim"]
        .as_u64()
        .map_or(hidden_size / num_heads, |x| x as usize);
    if head_dim == 0 || head_dim % 2 != 0 {
        return Err(format!(
            "head_dim {head_dim} must be even for rotary positions"
        ));
    }
    let rope_params = if v["rope_parameters"].is_object() {
        &v["rope_parameters"]
    } else {
        &v["rope_scaling"]
    };
    let rope = rope(rope_params, v["rope_theta"].as_f64().unwrap_or(10000.0))?;
    let attention_bias = v["attention_bias"].as_bool().unwrap_or(false);
    let sliding_window = match family {
        Family::Mistral => v["sliding_window"].as_u64(),
        Family::Qwen2 if v["use_sliding_window"].as_bool() == Some(true) => {
            v["sliding_window"].as_u64()
        }
        _ => None,
    }
    .map(|w| w as usize);
    Ok(DecoderConfig {
        num_kv_heads,
        head_dim,
        rope,
        // Qwen2 always has query/key/value biases and none on the output.
        qkv_bias: family == Family::Qwen2 || attention_bias,
        output_bias: family != Family::Qwen2 && attention_bias,
        mlp_bias: v["mlp_bias"].as_bool().unwrap_or(false),
        sliding_window,
        tied_lm_head: v["tie_word_embeddings"].as_bool().unwrap_or(false),
    })
}

/// θ and the frequency rule from a rope parameter object (`rope_theta`, `rope_type` or `type`,
/// and the type's own keys), θ = `theta` when it names none.
fn rope(params: &Value, theta: f64) -> std::result::Result<Rope, String> {
    let theta = params["rope_theta"].as_f64().unwrap_or(theta);
    let kind = params["rope_type"]
        .as_str()
        .or(params["type"].as_str())
        .unwrap_or("default");
    let number = |key: &str| {
        params[key]
            .as_f64()
            .ok_or_else(|| format!("rope type `{kind}` needs `{key}`"))
    };
    let scaling = match kind {
        "default" => RopeScaling::Default,
        "linear" => RopeScaling::Linear {
            factor: number("factor")?,
        },
        "llama3" => RopeScaling::Llama3 {
            factor: number("factor")?,
            low_freq_factor: number("low_freq_factor")?,
            high_freq_factor: number("high_freq_factor")?,
            original_max_position_embeddings: number("original_max_position_embeddings")?,
        },
        other => {
            return Err(format!(
                "unsupported rope type `{other}` (calig supports default, linear and llama3)"
            ))
        }
    };
    Ok(Rope { theta, scaling })
}

/// ModernBERT's fields of `config.json`: transformers ≥ 5 writes `layer_types` and
/// `rope_parameters` per layer type, earlier versions `global_attn_every_n_layers` (layer i is
/// global when i % n == 0) and `global_rope_theta` / `local_rope_theta`.
fn modernbert_config(v: &Value, layers: usize) -> std::result::Result<ModernBertConfig, String> {
    let global = match v["layer_types"].as_array() {
        Some(types) => types
            .iter()
            .map(|t| match t.as_str() {
                Some("full_attention") => Ok(true),
                Some("sliding_attention") => Ok(false),
                other => Err(format!(
                    "unsupported layer type {other:?} (full_attention or sliding_attention)"
                )),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?,
        None => {
            let n = v["global_attn_every_n_layers"].as_u64().unwrap_or(3).max(1) as usize;
            (0..layers).map(|i| i % n == 0).collect()
        }
    };
    if global.len() != layers {
        return Err(format!("{} layer types for {layers} layers", global.len()));
    }
    let params = &v["rope_parameters"];
    let global_rope = rope(
        &params["full_attention"],
        v["global_rope_theta"].as_f64().unwrap_or(160000.0),
    )?;
    let local_rope = rope(
        &params["sliding_attention"],
        v["local_rope_theta"].as_f64().unwrap_or(10000.0),
    )?;
    let flag = |key: &str| v[key].as_bool().unwrap_or(false);
    Ok(ModernBertConfig {
        global,
        global_rope,
        local_rope,
        local_attention: v["local_attention"].as_u64().unwrap_or(128) as usize,
        norm_bias: flag("norm_bias"),
        attention_bias: flag("attention_bias"),
        mlp_bias: flag("mlp_bias"),
        classifier_bias: flag("classifier_bias"),
        classifier_activation: Activation::from_hf(
            v["classifier_activation"].as_str().unwrap_or("gelu"),
        )?,
    })
}

/// Labels from `id2label` (keys are stringified indices), else `num_labels` generic names.
fn parse_labels(v: &Value) -> std::result::Result<Vec<String>, String> {
    if let Some(map) = v["id2label"].as_object() {
        let mut labels = vec![String::new(); map.len()];
        for (k, name) in map {
            let i: usize = k
                .parse()
                .map_err(|_| format!("id2label key `{k}` is not an index"))?;
            let slot = labels
                .get_mut(i)
                .ok_or_else(|| format!("id2label index {i} out of range 0..{}", map.len()))?;
            *slot = name
                .as_str()
                .ok_or("id2label values must be strings")?
                .to_string();
        }
        return Ok(labels);
    }
    let n = v["num_labels"].as_u64().unwrap_or(2) as usize;
    Ok((0..n).map(|i| format!("LABEL_{i}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_model_type_is_named() {
        let err = ModelConfig::from_json(&serde_json::json!({"model_type": "t5"})).unwrap_err();
        assert!(err.contains("unsupported model_type `t5`"), "{err}");
    }

    #[test]
    fn distilbert_names_and_labels() {
        let cfg = ModelConfig::from_json(&serde_json::json!({
            "model_type": "distilbert", "n_layers": 2, "dim": 8, "n_heads": 2, "hidden_dim": 16,
            "vocab_size": 10, "max_position_embeddings": 16, "id2label": {"1": "pos", "0": "neg"}
        }))
        .unwrap();
        assert_eq!(cfg.labels, vec!["neg", "pos"]);
        assert_eq!(cfg.label_index("POS"), Some(1));
        assert_eq!(cfg.label_index("0"), Some(0));
        assert_eq!(cfg.label_index("2"), None);
        assert_eq!(cfg.head_dim(), 4);
    }

    #[test]
    fn factorised_embeddings_and_shared_layers() {
        let albert = |groups: u64| {
            ModelConfig::from_json(&serde_json::json!({
                "model_type": "albert", "num_hidden_layers": 12, "hidden_size": 64,
                "embedding_size": 16, "num_attention_heads": 4, "intermediate_size": 128,
                "vocab_size": 30, "max_position_embeddings": 16, "num_hidden_groups": groups
            }))
        };
        let cfg = albert(1).unwrap();
        assert_eq!((cfg.embedding_size, cfg.hidden_size), (16, 64));
        assert!(albert(2)
            .unwrap_err()
            .contains("one group of one shared layer"));
        // BERT's embeddings are as wide as its blocks whatever the file says.
        let bert = ModelConfig::from_json(&serde_json::json!({
            "model_type": "bert", "num_hidden_layers": 1, "hidden_size": 8, "embedding_size": 4,
            "num_attention_heads": 2, "intermediate_size": 4, "vocab_size": 5,
            "max_position_embeddings": 8
        }))
        .unwrap();
        assert_eq!(bert.embedding_size, 8);
    }

    #[test]
    fn decoder_fields_old_and_new() {
        let llama = |extra: serde_json::Value| {
            let mut v = serde_json::json!({
                "model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64,
                "num_attention_heads": 8, "num_key_value_heads": 2, "intermediate_size": 128,
                "vocab_size": 100, "max_position_embeddings": 128, "eos_token_id": [7, 8]
            });
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            ModelConfig::from_json(&v)
        };
        // transformers < 5: rope_theta and rope_scaling at the top; no pad id: the eos id.
        let old = llama(serde_json::json!({"rope_theta": 500000.0, "rope_scaling": {
            "rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}))
        .unwrap();
        let d = old.decoder.as_ref().unwrap();
        assert_eq!((d.num_kv_heads, d.head_dim, d.rope.theta), (2, 8, 500000.0));
        assert!(matches!(d.rope.scaling, RopeScaling::Llama3 { factor, .. } if factor == 32.0));
        assert_eq!(old.pad_token_id, 7);
        assert_eq!(old.type_vocab_size, 0);
        // transformers 5: rope_parameters.
        let new = llama(serde_json::json!({"rope_parameters": {"rope_theta": 1e4,
            "rope_type": "default"}, "pad_token_id": 3, "attention_bias": true}))
        .unwrap();
        let d = new.decoder.as_ref().unwrap();
        assert!(d.qkv_bias && d.output_bias);
        assert_eq!((d.rope.theta, new.pad_token_id), (1e4, 3));
        let e = llama(serde_json::json!({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}))
            .unwrap_err();
        assert!(e.contains("unsupported rope type `yarn`"), "{e}");
        let e = llama(serde_json::json!({"num_key_value_heads": 3})).unwrap_err();
        assert!(e.contains("cannot share 3 key/value heads"), "{e}");
        let e = llama(serde_json::json!({"hidden_act": "gelu"})).unwrap_err();
        assert!(e.contains("SwiGLU"), "{e}");
    }

    #[test]
    fn modernbert_layer_types_old_and_new() {
        let modern = |extra: serde_json::Value| {
            let mut v = serde_json::json!({
                "model_type": "modernbert", "num_hidden_layers": 4, "hidden_size": 32,
                "num_attention_heads": 4, "intermediate_size": 48, "vocab_size": 100,
                "max_position_embeddings": 64, "pad_token_id": 1
            });
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            ModelConfig::from_json(&v)
        };
        // transformers < 5: every n-th layer global, the two θ at the top.
        let old = modern(serde_json::json!({"global_attn_every_n_layers": 3,
            "global_rope_theta": 1e5, "local_rope_theta": 1e3, "local_attention": 8,
            "classifier_pooling": "mean"}))
        .unwrap();
        let m = old.modernbert.as_ref().unwrap();
        assert_eq!(m.global, [true, false, false, true]);
        assert_eq!((m.global_rope.theta, m.local_rope.theta), (1e5, 1e3));
        assert_eq!((m.local_attention, old.pooling), (8, Pooling::Mean));
        assert_eq!((old.layer_norm_eps, old.type_vocab_size), (1e-5, 0));
        // transformers 5: layer_types and rope_parameters per layer type; defaults.
        let new = modern(serde_json::json!({"norm_eps": 1e-6, "layer_types": [
            "full_attention", "sliding_attention", "full_attention", "sliding_attention"],
            "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 2e5},
            "sliding_attention": {"rope_type": "default", "rope_theta": 2e4}}}))
        .unwrap();
        let m = new.modernbert.as_ref().unwrap();
        assert_eq!(m.global, [true, false, true, false]);
        assert_eq!((m.global_rope.theta, m.local_rope.theta), (2e5, 2e4));
        assert_eq!((m.local_attention, new.pooling), (128, Pooling::Cls));
        assert!(!m.norm_bias && !m.attention_bias && !m.mlp_bias);
        assert_eq!(new.layer_norm_eps, 1e-6);
        let e = modern(serde_json::json!({"layer_types": ["full_attention"]})).unwrap_err();
        assert!(e.contains("1 layer types for 4 layers"), "{e}");
        let e = modern(serde_json::json!({"classifier_pooling": "max"})).unwrap_err();
        assert!(e.contains("classifier_pooling"), "{e}");
    }

    #[test]
    fn heads_must_divide_hidden() {
        let err = ModelConfig::from_json(&serde_json::json!({
            "model_type": "bert", "num_hidden_layers": 1, "hidden_size": 10, "num_attention_heads": 3,
            "intermediate_size": 4, "vocab_size": 5, "max_position_embeddings": 8
        }))
        .unwrap_err();
        assert!(err.contains("not divisible"), "{err}");
    }
}
