//! The cascading model-parameter randomisation test (Adebayo et al., NeurIPS 2018, "Sanity
//! Checks for Saliency Maps"): the classifier's weights are re-initialised from the top down —
//! the head, then the last block, and so on to the embeddings, cumulatively — and each method
//! re-explains the same examples for the same class after every stage. An explanation that
//! depends on what the model learned must change: the Spearman rank correlation with the
//! trained model's map should fall towards 0. A map that survives randomisation (high
//! correlation at the last stage) reflects the input or the architecture, not the model.
//!
//! Re-initialisation follows Hugging Face's `_init_weights`: weight matrices and embeddings
//! N(0, initializer_range²) (0.02 when the config has none), biases 0, LayerNorm gain 1 and
//! shift 0, from a generator seeded per stage and tensor.

use crate::error::{CaligError, Result};
use crate::model::LoadedModel;
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::path::Path;

/// Average ranks (1-based; ties share the mean of their positions).
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            out[k] = r;
        }
        i = j + 1;
    }
    out
}

/// Spearman's ρ (Pearson on average ranks); 0 when either side is constant.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// Which stage re-initialises a tensor: 0 = the head, 1 = the last block, …, L = the first
/// block, L + 1 = the embeddings.
fn stage_of(name: &str, num_layers: usize) -> usize {
    for i in 0..num_layers {
        if name.contains(&format!("layer.{i}.")) {
            return num_layers - i;
        }
    }
    if name.contains("embeddings") {
        num_layers + 1
    } else {
        0
    }
}

/// The names of the stages, in order: "head", "block L", …, "block 1", "embeddings".
pub fn stage_names(num_layers: usize) -> Vec<String> {
    let mut v = vec!["head".to_string()];
    v.extend((1..=num_layers).rev().map(|b| format!("block {b}")));
    v.push("embeddings".into());
    v
}

fn initialised(name: &str, t: &Tensor, std: f64, seed: u64) -> Result<Tensor> {
    let lower = name.to_lowercase();
    let norm =
        lower.contains("layernorm") || lower.contains("layer_norm") || lower.contains("norm.");
    let v = if name.ends_with("bias") {
        vec![0.0f64; t.elem_count()]
    } else if norm && name.ends_with("weight") {
        vec![1.0f64; t.elem_count()]
    } else {
        let h = super::fnv1a(seed, name.bytes());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(h);
        // Box–Muller: one standard normal from two uniforms in (0, 1].
        (0..t.elem_count())
            .map(|_| {
                let (u1, u2) = (1.0 - rng.random::<f64>(), rng.random::<f64>());
                std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
            })
            .collect()
    };
    Ok(Tensor::from_vec(v, t.shape(), &Device::Cpu)?.to_dtype(t.dtype())?)
}

/// A copy of `m`'s checkpoint directory in `dir` whose tensors of stages 0..=`stage` are
/// re-initialised. Only safetensors checkpoints are supported.
pub fn randomised_copy(m: &LoadedModel, stage: usize, seed: u64, dir: &Path) -> Result<()> {
    let src = m.source.dir();
    let weights: Vec<&std::path::PathBuf> = m.weight_files.iter().collect();
    if weights
        .iter()
        .any(|f| f.extension().is_none_or(|e| e != "safetensors"))
    {
        return Err(CaligError::Unsupported(
            "the randomisation test needs a safetensors checkpoint".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| CaligError::io(dir, e))?;
    for e in std::fs::read_dir(src)
        .map_err(|e| CaligError::io(src, e))?
        .flatten()
    {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let is_weights =
            name.ends_with(".safetensors") || name.ends_with(".safetensors.index.json");
        if p.is_file() && !is_weights {
            std::fs::copy(&p, dir.join(&name)).map_err(|e| CaligError::io(&p, e))?;
        }
    }
    let std = std::fs::read_to_string(src.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["initializer_range"].as_f64())
        .unwrap_or(0.02);
    let layers = m.config.num_layers;
    let mut all: HashMap<String, Tensor> = HashMap::new();
    for f in weights {
        let tensors =
            candle_core::safetensors::load(f, &Device::Cpu).map_err(|e| CaligError::Weights {
                path: f.clone(),
                reason: e.to_string(),
            })?;
        for (name, t) in tensors {
            let t = if t.dtype().is_float() && stage_of(&name, layers) <= stage {
                initialised(&name, &t, std, seed.wrapping_add(stage as u64))?
            } else {
                t
            };
            all.insert(name, t);
        }
    }
    let out = dir.join("model.safetensors");
    candle_core::safetensors::save(&all, &out).map_err(|e| CaligError::Weights {
        path: out.clone(),
        reason: e.to_string(),
    })?;
    Ok(())
}

/// Spearman correlations of every method's maps with the trained model's, per stage.
pub struct Cascade {
    pub stages: Vec<String>,
    /// `[method][stage][example]`: ρ of the signed maps.
    pub signed: Vec<Vec<Vec<f64>>>,
    /// `[method][stage][example]`: ρ of the absolute values (sign flips do not count as change).
    pub absolute: Vec<Vec<Vec<f64>>>,
}

/// One method's headline map of an example prepared (for its target class) on `m`.
fn map_of(
    m: &LoadedModel,
    p: &crate::explain::Prepared,
    ex: &crate::data::Example,
    spec: &super::spec::MethodSpec,
    salt: &str,
) -> Result<Vec<f64>> {
    use super::spec::Kind;
    match spec.kind {
        Kind::Method(method) => {
            Ok(crate::explain::explain_prepared(m, p, method, &spec.params)?.scores)
        }
        Kind::Random => {
            // Drawn anew for every model: the floor of a map that ignores the model.
            let n = p.tokens.len() - usize::from(!p.subject.is_text());
            let h = super::fnv1a(0x5a17, format!("{}|{salt}", ex.key_text()).bytes());
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(h);
            Ok((0..n).map(|_| rng.random::<f64>()).collect())
        }
        Kind::External { .. } => Err(CaligError::InvalidInput(
            "the randomisation test re-explains with each model: attributions files cannot take part"
                .into(),
        )),
    }
}

/// Runs the cascade on `examples` (each explained for the trained model's predicted class);
/// `work` holds the randomised checkpoints, one stage at a time.
pub fn cascade(
    m: &LoadedModel,
    examples: &[crate::data::Example],
    methods: &[super::spec::MethodSpec],
    seed: u64,
    work: &Path,
    mut progress: impl FnMut(&str),
) -> Result<Cascade> {
    let at = |ex: &crate::data::Example, e: CaligError| {
        CaligError::InvalidInput(format!("example `{}` (line {}): {e}", ex.id, ex.line))
    };
    let mut targets = Vec::with_capacity(examples.len());
    let mut trained: Vec<Vec<Vec<f64>>> = Vec::with_capacity(examples.len()); // [example][method]
    for ex in examples {
        let p = crate::explain::prepare(m, &ex.input(), None).map_err(|e| at(ex, e))?;
        let target = crate::explain::argmax(&p.subject.logits);
        targets.push(target);
        trained.push(
            methods
                .iter()
                .map(|s| map_of(m, &p, ex, s, "trained"))
                .collect::<Result<_>>()
                .map_err(|e| at(ex, e))?,
        );
    }
    let stages = stage_names(m.config.num_layers);
    let (nm, ns) = (methods.len(), stages.len());
    let mut signed = vec![vec![Vec::new(); ns]; nm];
    let mut absolute = vec![vec![Vec::new(); ns]; nm];
    for (si, stage) in stages.iter().enumerate() {
        progress(stage);
        let dir = work.join(format!("stage-{si}"));
        randomised_copy(m, si, seed, &dir)?;
        let r = crate::model::load_model(dir.to_str().unwrap_or_default(), m.dtype(), m.device())?;
        for (ei, ex) in examples.iter().enumerate() {
            let target = targets[ei].to_string();
            let p =
                crate::explain::prepare(&r, &ex.input(), Some(&target)).map_err(|e| at(ex, e))?;
            for (mi, spec) in methods.iter().enumerate() {
                let got = map_of(&r, &p, ex, spec, stage).map_err(|e| at(ex, e))?;
                let want = &trained[ei][mi];
                let abs = |v: &[f64]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
                signed[mi][si].push(spearman(want, &got));
                absolute[mi][si].push(spearman(&abs(want), &abs(&got)));
            }
        }
        std::fs::remove_dir_all(&dir).map_err(|e| CaligError::io(&dir, e))?;
    }
    Ok(Cascade {
        stages,
        signed,
        absolute,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_matches_hand_computed_values() {
        assert_eq!(ranks(&[3.0, 1.0, 2.0, 2.0]), vec![4.0, 1.0, 2.5, 2.5]);
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // d = (0, 2, −1, −1): ρ = 1 − 6·6 / (4·15) = 0.4 (no ties).
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 4.0, 2.0, 3.0]) - 0.4).abs() < 1e-12);
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
    }

    #[test]
    fn stages_run_from_the_head_down() {
        assert_eq!(stage_of("classifier.weight", 3), 0);
        assert_eq!(stage_of("bert.pooler.dense.weight", 3), 0);
        assert_eq!(stage_of("bert.encoder.layer.2.output.dense.weight", 3), 1);
        assert_eq!(
            stage_of("bert.encoder.layer.0.attention.self.query.bias", 3),
            3
        );
        assert_eq!(stage_of("bert.embeddings.word_embeddings.weight", 3), 4);
        assert_eq!(stage_names(2), ["head", "block 2", "block 1", "embeddings"]);
    }
}
