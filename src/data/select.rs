//! Which examples of a data set `calig eval` evaluates: the data set read by its shape (an
//! ERASER directory, idx files, an image folder, a fastText TSV or a table), the ids listed in a
//! file kept, short texts dropped, and a seeded sample drawn (in file order).

use super::rows::DEFAULT_INPUT;
use super::{Example, Table};
use crate::error::{CaligError, Result};
use crate::model::ModelConfig;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::Path;

/// `calig eval`'s data-set options.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    /// An ERASER directory, a .tsv/.csv/.jsonl table, an idx directory or an image folder.
    pub dataset: &'a Path,
    /// ERASER `val` (default) or `test`; idx `test` (default) or `train`.
    pub split: Option<&'a str>,
    /// Default: `text`, else `sentence`.
    pub text_column: Option<&'a str>,
    pub label_column: &'a str,
    pub id_column: Option<&'a str>,
    /// The column of a sentence pair's second text (tables only).
    pub pair_column: Option<&'a str>,
    /// Keep only the examples whose id is listed in this file (one per line).
    pub ids: Option<&'a Path>,
    /// Keep only texts of at least this many whitespace-separated words.
    pub min_words: usize,
    /// A seeded random sample of this many (kept in file order).
    pub limit: Option<usize>,
    pub seed: u64,
}

/// The examples chosen.
pub struct Selected {
    pub examples: Vec<Example>,
    /// How many the data set (after the id list) holds.
    pub total: usize,
    /// Whether the data set has human rationales (ERASER).
    pub rationales: bool,
}

/// The examples `a` chooses, labels mapped to the model's classes by [`label_of`].
pub fn select(a: &Selection, cfg: &ModelConfig) -> Result<Selected> {
    let (mut all, rationales) = load(a, cfg)?;
    if let Some(path) = a.ids {
        all = keep_listed(all, path, a.dataset)?;
    }
    let total = all.len();
    let filtered: Vec<Example> = all
        .into_iter()
        .filter(|e| e.text.split_whitespace().count() >= a.min_words)
        .collect();
    let examples = sample(filtered, a.limit, a.seed);
    if examples.is_empty() {
        return Err(CaligError::InvalidInput(format!(
            "{}: no examples to evaluate",
            a.dataset.display()
        )));
    }
    Ok(Selected {
        examples,
        total,
        rationales,
    })
}

/// A label name as the data set spells it, mapped to the model's class: exact, case-insensitive,
/// index, or a prefix either way (ERASER's `NEG` for a model's `negative`).
pub fn label_of(cfg: &ModelConfig, name: &str) -> Option<usize> {
    cfg.label_index(name).or_else(|| {
        let n = name.to_lowercase();
        let hits: Vec<usize> = (0..cfg.labels.len())
            .filter(|&i| {
                let l = cfg.labels[i].to_lowercase();
                !n.is_empty() && (l.starts_with(&n) || n.starts_with(&l))
            })
            .collect();
        (hits.len() == 1).then(|| hits[0])
    })
}

/// The examples of a data set, and whether it has human rationales.
fn load(a: &Selection, cfg: &ModelConfig) -> Result<(Vec<Example>, bool)> {
    let labels = |s: &str| label_of(cfg, s);
    let p = a.dataset;
    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
    if a.pair_column.is_some() && (p.is_dir() || !["tsv", "csv", "jsonl", "json"].contains(&ext)) {
        return Err(CaligError::InvalidInput(format!(
            "{}: --pair-column reads a table (.tsv, .csv or .jsonl) with a column for each text",
            p.display()
        )));
    }
    if p.is_dir() {
        let has = |name: &str| p.join(name).is_file() || p.join(format!("{name}.gz")).is_file();
        if has("t10k-images-idx3-ubyte") || has("train-images-idx3-ubyte") {
            let split = a.split.unwrap_or("test");
            return Ok((super::read_idx(p, split)?, false));
        }
        let split = a.split.unwrap_or("val");
        let jsonl = p.join(format!("{split}.jsonl"));
        if jsonl.is_file() && p.join("docs").is_dir() {
            return Ok((super::read_eraser(&jsonl, &p.join("docs"), &labels)?, true));
        }
        let folders = std::fs::read_dir(p)
            .map_err(|e| CaligError::io(p, e))?
            .flatten()
            .any(|e| e.path().is_dir());
        if folders && !p.join("docs").is_dir() {
            return Ok((super::read_image_folder(p, &labels)?, false));
        }
        return Err(CaligError::InvalidFile {
            path: p.to_path_buf(),
            reason: format!(
                "a data-set directory must be ERASER-shaped ({split}.jsonl and docs/), hold \
                 idx files (t10k-images-idx3-ubyte[.gz] ...), or have one image sub-folder per \
                 class"
            ),
        });
    }
    // Only the start of the first line decides the format; the readers check the encoding.
    let bytes = std::fs::read(p).map_err(|e| CaligError::io(p, e))?;
    let first = String::from_utf8_lossy(bytes.split(|&b| b == b'\n').next().unwrap_or_default())
        .into_owned();
    if ext == "tsv" && first.starts_with("__label__") {
        if a.pair_column.is_some() {
            return Err(CaligError::InvalidInput(format!(
                "{}: a fastText TSV (`__label__…`) has one text per line: no --pair-column",
                p.display()
            )));
        }
        return Ok((super::read_fasttext_tsv(p, &cfg.labels)?, false));
    }
    let named;
    let table = Table {
        text_columns: match a.text_column {
            Some(c) => {
                named = [c];
                &named
            }
            None => DEFAULT_INPUT,
        },
        label_column: a.label_column,
        id_column: a.id_column,
        pair_column: a.pair_column,
    };
    Ok((super::read_table(p, &table, &labels)?, false))
}

fn sample(mut examples: Vec<Example>, limit: Option<usize>, seed: u64) -> Vec<Example> {
    let Some(n) = limit.filter(|&n| n < examples.len()) else {
        return examples;
    };
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let mut keep: Vec<usize> = order[..n].to_vec();
    keep.sort_unstable();
    let mut out = Vec::with_capacity(n);
    for i in keep.into_iter().rev() {
        out.push(examples.swap_remove(i));
    }
    out.reverse();
    out
}

/// The examples whose id `path` lists (one per line, blank lines ignored), in data-set order;
/// an id that the data set lacks is an error naming its line.
fn keep_listed(all: Vec<Example>, path: &Path, dataset: &Path) -> Result<Vec<Example>> {
    let text = std::fs::read_to_string(path).map_err(|e| CaligError::io(path, e))?;
    let known: std::collections::HashSet<&str> = all.iter().map(|e| e.id.as_str()).collect();
    let mut wanted = std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let id = line.trim();
        if id.is_empty() {
            continue;
        }
        if !known.contains(id) {
            return Err(CaligError::InvalidInput(format!(
                "{} line {}: no example `{id}` in {}",
                path.display(),
                i + 1,
                dataset.display()
            )));
        }
        wanted.insert(id.to_string());
    }
    Ok(all.into_iter().filter(|e| wanted.contains(&e.id)).collect())
}
