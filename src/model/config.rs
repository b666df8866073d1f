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
        }
    }

    pub fn is_text(&self) -> bool {
        !matches!(self, Self::Vit)
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
                 xlm-roberta, distilbert, electra, albert, vit)"
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
        let (num_layers, hidden_size, num_heads, intermediate_size, act) = if distil {
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
                act_name("hidden_act", "gelu"),
            )
        };
        if num_heads == 0 || hidden_size % num_heads != 0 {
            return Err(format!(
                "hidden size {hidden_size} is not divisible by {num_heads} heads"
            ));
        }
        let activation = Activation::from_hf(&act)?;
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
        let pooling = match v["pooling"].as_str() {
            None | Some("cls") => Pooling::Cls,
            Some("mean") => Pooling::Mean,
            Some(other) => return Err(format!("unsupported `pooling` `{other}` (cls or mean)")),
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
            layer_norm_eps: v["layer_norm_eps"].as_f64().unwrap_or(1e-12),
            vocab_size: if family.is_text() {
                get("vocab_size")?
            } else {
                0
            },
            max_position_embeddings: if family.is_text() {
                get("max_position_embeddings")?
            } else {
                0
            },
            type_vocab_size: if distil || !family.is_text() {
                0
            } else {
                get_or("type_vocab_size", 2)
            },
            pad_token_id: v["pad_token_id"].as_u64().unwrap_or(0) as u32,
            labels,
            image,
            pooling,
        })
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
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
        let err = ModelConfig::from_json(&serde_json::json!({"model_type": "gpt2"})).unwrap_err();
        assert!(err.contains("unsupported model_type `gpt2`"), "{err}");
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
    fn heads_must_divide_hidden() {
        let err = ModelConfig::from_json(&serde_json::json!({
            "model_type": "bert", "num_hidden_layers": 1, "hidden_size": 10, "num_attention_heads": 3,
            "intermediate_size": 4, "vocab_size": 5, "max_position_embeddings": 8
        }))
        .unwrap_err();
        assert!(err.contains("not divisible"), "{err}");
    }
}
