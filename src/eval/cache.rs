//! The on-disk attribution cache: one resumable JSON-lines file per (model content, method and
//! its full parameters), one record per (example text, explained class). A re-run, or a run
//! interrupted at any point, recomputes only what is missing.

use super::faithfulness::Eraser;
use super::spec::MethodSpec;
use crate::error::{CaligError, Result};
use crate::model::LoadedModel;
use crate::store::JsonlStore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Cached {
    pub key: String,
    /// Token scores (every position, special tokens included).
    pub scores: Vec<f64>,
    /// Attribution time in ms when it was computed.
    pub ms: f64,
    /// Largest |convergence delta| over layers, for path methods.
    #[serde(alias = "relative_delta")]
    pub max_abs_delta: Option<f64>,
}

/// sha256 of the model's config.json, weight files and precision, in hex (16 characters shown).
pub fn model_hash(m: &LoadedModel) -> Result<String> {
    let mut h = Sha256::new();
    let config = m.source.dir().join("config.json");
    let mut files = vec![config];
    files.extend(m.weight_files.iter().cloned());
    let mut buf = vec![0u8; 1 << 20];
    for f in &files {
        let mut file = std::fs::File::open(f).map_err(|e| CaligError::io(f, e))?;
        loop {
            let n = file.read(&mut buf).map_err(|e| CaligError::io(f, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    h.update(format!("{:?}", m.dtype()).as_bytes());
    // TF32 products change the numbers; f32 on the CPU and on CUDA agree to ~1e-6 and share.
    if crate::runtime::precision_name(m.dtype(), m.device()) == "tf32" {
        h.update(b"tf32");
    }
    Ok(hex(&h.finalize()[..8]))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Key of one example: a hash of its text and the explained class.
pub fn example_key(text: &str, target: usize) -> String {
    let d = Sha256::digest(text.as_bytes());
    format!("{}:{target}", hex(&d[..8]))
}

/// One method's metric values on one example (under one removal and metric set), so that a
/// re-run recomputes nothing.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Measured {
    pub values: Vec<(String, f64)>,
    pub curves: Vec<(String, Vec<f64>)>,
    pub faith: Option<Eraser>,
    pub gold_unit_scores: Option<Vec<f64>>,
    /// ferret: the predicted class's scores of the tokens between the first and the last.
    #[serde(default)]
    pub ferret_scores: Option<Vec<f64>>,
    /// M⁴: the unit scores, the removal sets and the curves, for tools/eval/crosscheck_m4.py.
    #[serde(default)]
    pub m4: Option<serde_json::Value>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct MeasuredRecord {
    key: String,
    measured: Measured,
}

/// The method's revision (attr's method table) in cache keys, so that a method whose scores
/// changed for the same parameters is not served older files; empty at revision 1, which keeps
/// the files of a method never changed valid.
fn revision(spec: &MethodSpec) -> String {
    match spec.kind {
        super::spec::Kind::Method(m) if m.info().revision > 1 => {
            format!("|revision {}", m.info().revision)
        }
        _ => String::new(),
    }
}

pub struct MethodCache {
    store: JsonlStore,
    pub records: HashMap<String, Cached>,
    measured_store: JsonlStore,
    pub measured: HashMap<String, Measured>,
}

impl MethodCache {
    /// The attribution and metric files of `spec`: `dir/<model hash>/<method slug>-<hash of the
    /// full parameters>.jsonl` and `.metrics.jsonl` beside it.
    pub fn files(dir: &Path, model_hash: &str, spec: &MethodSpec) -> (PathBuf, PathBuf) {
        let params = serde_json::to_string(&spec.params).unwrap_or_default();
        let kind = format!("{:?}", spec.kind);
        let d = Sha256::digest(format!("{kind}|{params}{}", revision(spec)).as_bytes());
        // Slugs may hold dots (lambda-0.5): build the names whole, not with `with_extension`.
        let stem = format!("{}-{}", spec.slug(), hex(&d[..6]));
        let dir = dir.join(model_hash);
        (
            dir.join(format!("{stem}.jsonl")),
            dir.join(format!("{stem}.metrics.jsonl")),
        )
    }

    /// The cached attributions of `spec` by example key, read without writing anything (`calig
    /// serve`'s run browser); none when the file is not there.
    pub fn read(
        dir: &Path,
        model_hash: &str,
        spec: &MethodSpec,
    ) -> Result<HashMap<String, Cached>> {
        let (path, _) = Self::files(dir, model_hash, spec);
        Ok(crate::store::read_records::<Cached>(&path)?
            .into_iter()
            .map(|c| (c.key.clone(), c))
            .collect())
    }

    /// The cached metric values and curves of `spec` by metric key
    /// ([`crate::eval::job::EvalJob::metric_key`]), read without writing anything (`calig
    /// serve`'s run browser); none when the file is not there.
    pub fn read_measured(
        dir: &Path,
        model_hash: &str,
        spec: &MethodSpec,
    ) -> Result<HashMap<String, Measured>> {
        let (_, path) = Self::files(dir, model_hash, spec);
        Ok(crate::store::read_records::<MeasuredRecord>(&path)?
            .into_iter()
            .map(|r| (r.key, r.measured))
            .collect())
    }

    /// Opens (creating) the files of `spec` ([`MethodCache::files`]) with what they hold.
    pub fn open(dir: &Path, model_hash: &str, spec: &MethodSpec) -> Result<Self> {
        let (records, metrics) = Self::files(dir, model_hash, spec);
        let (store, old) = JsonlStore::open::<Cached>(&records)?;
        let (measured_store, done) = JsonlStore::open::<MeasuredRecord>(&metrics)?;
        Ok(Self {
            store,
            records: old.into_iter().map(|c| (c.key.clone(), c)).collect(),
            measured_store,
            measured: done.into_iter().map(|r| (r.key, r.measured)).collect(),
        })
    }

    pub fn insert_measured(&mut self, key: String, measured: Measured) -> Result<()> {
        let record = MeasuredRecord { key, measured };
        self.measured_store.append(&record)?;
        self.measured.insert(record.key, record.measured);
        Ok(())
    }

    pub fn insert(&mut self, c: Cached) -> Result<()> {
        self.store.append(&c)?;
        self.records.insert(c.key.clone(), c);
        Ok(())
    }
}
