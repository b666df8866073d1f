//! ERASER data sets (DeYoung et al. 2020): `<split>.jsonl` annotations plus `docs/<docid>`.
//! A document's whitespace tokens, joined by single spaces, become the example text, so
//! ERASER's token offsets index `text.split(' ')`; every evidence span is kept.

use super::{bad, json_lines, read, Example};
use crate::error::Result;
use std::path::Path;

/// Reads annotations; `label_of` maps a `classification` value to the model's class index.
pub fn read_eraser(
    jsonl: &Path,
    docs: &Path,
    label_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<Vec<Example>> {
    let mut out = Vec::new();
    for (i, v) in json_lines(jsonl)? {
        let id = v["annotation_id"]
            .as_str()
            .ok_or_else(|| bad(jsonl, i + 1, "no `annotation_id`"))?;
        let class = v["classification"].as_str().unwrap_or_default();
        let label = label_of(class).ok_or_else(|| {
            bad(
                jsonl,
                i + 1,
                format!("classification `{class}` is not a class of the model"),
            )
        })?;
        let doc = read(&docs.join(id))?;
        let tokens: Vec<&str> = doc.split_whitespace().collect();
        let mut evidence = Vec::new();
        for group in v["evidences"].as_array().into_iter().flatten() {
            for ev in group.as_array().into_iter().flatten() {
                let span = (ev["start_token"].as_u64(), ev["end_token"].as_u64());
                let (Some(s), Some(e)) = span else {
                    return Err(bad(jsonl, i + 1, "an evidence without start/end_token"));
                };
                let (s, e) = (s as usize, e as usize);
                if s >= e || e > tokens.len() {
                    return Err(bad(
                        jsonl,
                        i + 1,
                        format!(
                            "evidence [{s}, {e}) does not fit the {} tokens of {id}",
                            tokens.len()
                        ),
                    ));
                }
                evidence.push((s, e));
            }
        }
        out.push(Example {
            id: id.to_string(),
            text: tokens.join(" "),
            text_pair: None,
            label,
            line: i + 1,
            evidence,
            image: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_spans_index_whitespace_tokens() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("docs")).unwrap();
        std::fs::write(dir.path().join("docs/d1"), "a  truly\ngreat film .\n").unwrap();
        let ann = r#"{"annotation_id": "d1", "classification": "POS", "evidences": [[{"docid": "d1", "start_token": 1, "end_token": 3, "text": "truly great"}]]}"#;
        std::fs::write(dir.path().join("val.jsonl"), format!("{ann}\n")).unwrap();
        let classes = |c: &str| ["NEG", "POS"].iter().position(|x| *x == c);
        let ex = read_eraser(
            &dir.path().join("val.jsonl"),
            &dir.path().join("docs"),
            &classes,
        )
        .unwrap();
        assert_eq!(ex[0].text, "a truly great film .");
        assert_eq!(ex[0].label, 1);
        assert_eq!(ex[0].evidence, vec![(1, 3)]);
        let bad_span = ann.replace("\"end_token\": 3", "\"end_token\": 9");
        std::fs::write(dir.path().join("val.jsonl"), bad_span).unwrap();
        let err = read_eraser(
            &dir.path().join("val.jsonl"),
            &dir.path().join("docs"),
            &classes,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 1") && err.contains("[1, 9)"), "{err}");
    }
}
