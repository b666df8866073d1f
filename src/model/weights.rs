//! Reading checkpoint tensors: `model.safetensors`, sharded safetensors with an index,
//! `pytorch_model.bin` (single or sharded).

use crate::error::{CaligError, Result};
use candle_core::{Device, Tensor};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

pub struct Checkpoint {
    pub tensors: HashMap<String, Tensor>,
    pub files: Vec<PathBuf>,
}

impl Checkpoint {
    pub fn num_parameters(&self) -> usize {
        self.tensors.values().map(|t| t.elem_count()).sum()
    }

    /// The prefix under which the base model's tensors live: `bert`, `roberta`, ... or none.
    pub fn base_prefix(&self, family_prefix: &str, probe: &str) -> Option<String> {
        let prefixed = format!("{family_prefix}.{probe}");
        if self.tensors.contains_key(&prefixed) {
            Some(family_prefix.to_string())
        } else if self.tensors.contains_key(probe) {
            Some(String::new())
        } else {
            None
        }
    }
}

/// Shards listed in a `*.index.json` (`weight_map` values), in order, without repeats.
fn shards_of(index: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(index).map_err(|e| CaligError::io(index, e))?;
    let invalid = |reason: String| CaligError::InvalidFile {
        path: index.to_path_buf(),
        reason,
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
    let map = v["weight_map"]
        .as_object()
        .ok_or_else(|| invalid("no `weight_map` object".into()))?;
    let names: BTreeSet<&str> = map.values().filter_map(|f| f.as_str()).collect();
    let dir = index.parent().unwrap_or(Path::new("."));
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

fn read_file(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let weights_err = |reason: String| CaligError::Weights {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(weights_err("file is missing".into()));
    }
    let is_safetensors = path.extension().is_some_and(|e| e == "safetensors");
    let tensors = if is_safetensors {
        candle_core::safetensors::load(path, &Device::Cpu)
            .map(|m| m.into_iter().collect())
            .map_err(|e| weights_err(format!("cannot read safetensors: {e}")))?
    } else {
        candle_core::pickle::read_all(path)
            .map_err(|e| weights_err(format!("cannot read PyTorch pickle: {e}")))?
    };
    if tensors.is_empty() {
        return Err(weights_err("holds no tensors".into()));
    }
    Ok(tensors)
}

/// Old TensorFlow-converted BERTs name LayerNorm parameters gamma/beta.
fn canonical_name(name: String) -> String {
    if let Some(stem) = name.strip_suffix(".gamma") {
        format!("{stem}.weight")
    } else if let Some(stem) = name.strip_suffix(".beta") {
        format!("{stem}.bias")
    } else {
        name
    }
}

/// Finds and reads the weights of a checkpoint directory.
pub fn read_checkpoint(dir: &Path) -> Result<Checkpoint> {
    let candidates = [
        "model.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "pytorch_model.bin.index.json",
    ];
    let found = candidates
        .iter()
        .map(|c| dir.join(c))
        .find(|p| p.is_file())
        .ok_or_else(|| CaligError::Weights {
            path: dir.to_path_buf(),
            reason: format!("no weights found (looked for {})", candidates.join(", ")),
        })?;
    let files = if found.to_string_lossy().ends_with(".index.json") {
        shards_of(&found)?
    } else {
        vec![found]
    };
    let mut tensors = HashMap::new();
    for f in &files {
        for (name, t) in read_file(f)? {
            tensors.insert(canonical_name(name), t);
        }
    }
    Ok(Checkpoint { tensors, files })
}
