//! Attributions made elsewhere (Captum, inseq, ferret, ...) for `calig eval --attributions`:
//! JSON lines `{"id": ..., "word_scores": [...]}`, one score per whitespace-separated word.

use crate::error::{CaligError, Result};
use std::collections::HashMap;
use std::path::Path;

/// One score per whitespace word, per example id.
pub type WordScores = HashMap<String, Vec<f64>>;

/// Reads `{"id", "word_scores"}` lines; a bad line is named.
pub fn read_attributions(path: &Path, content: &[u8]) -> Result<WordScores> {
    #[derive(serde::Deserialize)]
    struct Line {
        id: serde_json::Value,
        word_scores: Vec<f64>,
    }
    let text = std::str::from_utf8(content).map_err(|_| CaligError::InvalidFile {
        path: path.to_path_buf(),
        reason: "not UTF-8".into(),
    })?;
    let mut out = HashMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let l: Line = serde_json::from_str(line).map_err(|_| CaligError::InvalidFile {
            path: path.to_path_buf(),
            reason: format!(
                "line {}: expected {{\"id\": ..., \"word_scores\": [numbers]}}",
                i + 1
            ),
        })?;
        let id = match l.id {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        if out.insert(id.clone(), l.word_scores).is_some() {
            return Err(CaligError::InvalidFile {
                path: path.to_path_buf(),
                reason: format!("line {}: example `{id}` appears twice", i + 1),
            });
        }
    }
    Ok(out)
}
