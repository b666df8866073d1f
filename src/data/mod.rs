//! Readers for the labelled data sets calig evaluates on (train/dev files of ../shared/data and
//! files shaped like them).

mod eraser;
mod images;
mod tabular;

pub use eraser::read_eraser;
pub use images::{read_idx, read_image_folder};
pub use tabular::{read_table, Table};

use crate::error::{CaligError, Result};
use std::path::Path;

/// One labelled text.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub id: String,
    pub text: String,
    pub label: usize,
    /// 1-based line of the example in its file.
    pub line: usize,
    /// Human rationale spans, half-open, in whitespace tokens of `text` (ERASER only).
    pub evidence: Vec<(usize, usize)>,
    /// Image data sets: the image (then `text` is its name, which keys the caches).
    pub image: Option<ImageData>,
}

/// Where an example's image is.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageData {
    File(std::path::PathBuf),
    Decoded(std::sync::Arc<image::DynamicImage>),
}

impl Example {
    /// What `calig explain` would be given for this example.
    pub fn input(&self) -> crate::explain::ExplainInput {
        use crate::explain::ExplainInput;
        match &self.image {
            None => ExplainInput::Text(self.text.clone()),
            Some(ImageData::File(p)) => ExplainInput::Image(p.clone()),
            Some(ImageData::Decoded(img)) => ExplainInput::Decoded {
                name: self.text.clone(),
                image: img.clone(),
            },
        }
    }
}

/// The file as text; invalid UTF-8 is an error that names its line and byte column.
pub(crate) fn read(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| CaligError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = valid.len() - valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
        bad(
            path,
            line,
            format!("not valid UTF-8 (byte {column} of the line)"),
        )
    })
}

/// The non-empty lines of a JSON-lines file, parsed, with their 0-based line index.
pub(crate) fn json_lines(path: &Path) -> Result<Vec<(usize, serde_json::Value)>> {
    read(path)?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map(|v| (i, v))
                .map_err(|e| bad(path, i + 1, e.to_string()))
        })
        .collect()
}

pub(crate) fn bad(path: &Path, line: usize, reason: impl Into<String>) -> CaligError {
    CaligError::InvalidFile {
        path: path.to_path_buf(),
        reason: format!("line {line}: {}", reason.into()),
    }
}

/// GLUE-style TSV with a header `sentence<TAB>label` (SST-2): label is an integer index.
pub fn read_sentence_tsv(path: &Path) -> Result<Vec<Example>> {
    let text = read(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let (s, y) = line
            .rsplit_once('\t')
            .ok_or_else(|| bad(path, i + 1, "no tab"))?;
        let label = y
            .trim()
            .parse()
            .map_err(|_| bad(path, i + 1, format!("label `{y}` is not an index")))?;
        out.push(Example {
            id: format!("{}", i - 1),
            text: s.trim().to_string(),
            label,
            line: i + 1,
            evidence: vec![],
            image: None,
        });
    }
    Ok(out)
}

/// fastText-style TSV: `__label__NAME<TAB>text` (the Amharic hate-speech set); `labels` gives
/// the index of each NAME.
pub fn read_fasttext_tsv(path: &Path, labels: &[String]) -> Result<Vec<Example>> {
    let text = read(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (tag, s) = line
            .split_once('\t')
            .ok_or_else(|| bad(path, i + 1, "no tab"))?;
        let name = tag.trim().trim_start_matches("__label__");
        let label = labels.iter().position(|l| l == name).ok_or_else(|| {
            bad(
                path,
                i + 1,
                format!("label `{name}` is not one of {}", labels.join(", ")),
            )
        })?;
        out.push(Example {
            id: format!("{i}"),
            text: s.trim().to_string(),
            label,
            line: i + 1,
            evidence: vec![],
            image: None,
        });
    }
    Ok(out)
}

/// JSON lines with an id, a text and an integer label field (BBC News: `id`, `text`, `label_id`).
pub fn read_jsonl(path: &Path, text_key: &str, label_key: &str) -> Result<Vec<Example>> {
    let mut out = Vec::new();
    for (i, v) in json_lines(path)? {
        let label = v[label_key]
            .as_u64()
            .ok_or_else(|| bad(path, i + 1, format!("no integer `{label_key}`")))?
            as usize;
        out.push(Example {
            id: v["id"]
                .as_str()
                .map_or_else(|| i.to_string(), str::to_string),
            text: v[text_key]
                .as_str()
                .ok_or_else(|| bad(path, i + 1, format!("no string `{text_key}`")))?
                .to_string(),
            label,
            line: i + 1,
            evidence: vec![],
            image: None,
        });
    }
    Ok(out)
}

/// ERASER Movie Reviews documents with their labels (NEG → 0, POS → 1) and evidence spans.
pub fn read_eraser_movies(jsonl: &Path, docs: &Path) -> Result<Vec<Example>> {
    read_eraser(jsonl, docs, &|c| {
        ["NEG", "POS"].iter().position(|x| *x == c)
    })
}

/// Accuracy and macro-F1 of predictions against labels over `classes` classes.
pub fn accuracy_and_macro_f1(pred: &[usize], gold: &[usize], classes: usize) -> (f64, f64) {
    let n = pred.len().max(1) as f64;
    let acc = pred.iter().zip(gold).filter(|(p, g)| p == g).count() as f64 / n;
    let mut f1s = Vec::new();
    for c in 0..classes {
        let tp = pred
            .iter()
            .zip(gold)
            .filter(|(p, g)| **p == c && **g == c)
            .count() as f64;
        let fp = pred
            .iter()
            .zip(gold)
            .filter(|(p, g)| **p == c && **g != c)
            .count() as f64;
        let fn_ = pred
            .iter()
            .zip(gold)
            .filter(|(p, g)| **p != c && **g == c)
            .count() as f64;
        let f1 = if tp == 0.0 {
            0.0
        } else {
            2.0 * tp / (2.0 * tp + fp + fn_)
        };
        f1s.push(f1);
    }
    (acc, f1s.iter().sum::<f64>() / classes.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics() {
        let (acc, f1) = accuracy_and_macro_f1(&[0, 1, 1, 2], &[0, 1, 2, 2], 3);
        assert_eq!(acc, 0.75);
        assert!((f1 - (1.0 + 2.0 / 3.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn readers_name_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.tsv");
        std::fs::write(&p, "sentence\tlabel\ngood film \t1\nno tab here\n").unwrap();
        let err = read_sentence_tsv(&p).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("d.tsv"), "{err}");
        std::fs::write(&p, "__label__hate\tx\n__label__joy\ty\n").unwrap();
        let labels = vec!["hate".to_string(), "normal".to_string()];
        assert!(read_fasttext_tsv(&p, &labels)
            .unwrap_err()
            .to_string()
            .contains("`joy`"));
    }
}
