//! fastText-style TSV: `__label__NAME<TAB>text` per line, no header (the Amharic hate-speech
//! set).

use super::{bad, read, Example};
use crate::error::Result;
use std::path::Path;

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
            text_pair: None,
            label,
            line: i + 1,
            evidence: vec![],
            image: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_are_names_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.tsv");
        std::fs::write(&p, "__label__hate\tx\n\n__label__joy\ty\n").unwrap();
        let labels = vec!["hate".to_string(), "normal".to_string()];
        let err = super::read_fasttext_tsv(&p, &labels)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`joy`") && err.contains("line 3"), "{err}");
        std::fs::write(&p, "__label__normal\t y \n").unwrap();
        let ex = super::read_fasttext_tsv(&p, &labels).unwrap();
        assert_eq!((ex[0].label, ex[0].text.as_str()), (1, "y"));
    }
}
