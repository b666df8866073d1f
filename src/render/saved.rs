//! Reading saved explanations back for `calig render`: one `--format json` object, the array
//! that `calig explain --method a,b,c --format json` writes, or the JSON lines of `calig batch`
//! (each an explanation with the input's `line` and `id`). Everything is read and checked
//! before anything is drawn, so a bad file gives an error that names the line and the problem
//! and no output.

use crate::attr::Method;
use crate::error::{CaligError, Result};
use crate::explain::{Explanation, SCHEMA_VERSION};
use serde_json::Value;
use std::path::Path;

/// What a saved file held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One explanation (`--format json`).
    One,
    /// Several methods on one input (`--method a,b,c --format json`).
    Methods,
    /// One explanation per line (`calig batch`).
    Batch,
}

#[derive(Debug, Clone)]
pub struct Item {
    /// The batch input's line and id, when the record has them.
    pub line: Option<u64>,
    pub id: Option<String>,
    pub explanation: Explanation,
}

#[derive(Debug, Clone)]
pub struct Saved {
    pub kind: Kind,
    pub items: Vec<Item>,
}

fn invalid(path: &Path, reason: String) -> CaligError {
    CaligError::InvalidFile {
        path: path.to_path_buf(),
        reason,
    }
}

/// Reads `path` (see the module docs).
pub fn read(path: &Path) -> Result<Saved> {
    let bytes = std::fs::read(path).map_err(|e| CaligError::io(path, e))?;
    let text =
        String::from_utf8(bytes).map_err(|e| invalid(path, format!("not UTF-8 text: {e}")))?;
    parse(path, &text)
}

/// Parses saved explanations; `path` names the source in errors.
pub fn parse(path: &Path, text: &str) -> Result<Saved> {
    if text.trim().is_empty() {
        return Err(invalid(
            path,
            "is empty: expected an explanation (calig explain --format json) or the JSON \
             lines of calig batch"
                .into(),
        ));
    }
    // One JSON value (an object or an array of them), or else JSON lines.
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return match v {
            Value::Array(vs) if vs.is_empty() => {
                Err(invalid(path, "is an empty array: no explanations".into()))
            }
            Value::Array(vs) => {
                let items = vs
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| item(v).map_err(|r| invalid(path, format!("entry {i}: {r}"))))
                    .collect::<Result<_>>()?;
                Ok(Saved {
                    kind: Kind::Methods,
                    items,
                })
            }
            v => {
                let batch = v.get("line").is_some();
                let it = item(v).map_err(|r| invalid(path, r))?;
                Ok(Saved {
                    kind: if batch { Kind::Batch } else { Kind::One },
                    items: vec![it],
                })
            }
        };
    }
    let mut items = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |r: String| invalid(path, format!("line {}: {r}", n + 1));
        let v: Value = serde_json::from_str(line).map_err(|e| at(format!("not JSON: {e}")))?;
        items.push(item(v).map_err(at)?);
    }
    Ok(Saved {
        kind: Kind::Batch,
        items,
    })
}

/// One record: an explanation, with `line` and `id` when it comes from a batch.
fn item(mut v: Value) -> std::result::Result<Item, String> {
    // Files written before explanations said whether they are signed: the method table says.
    if let Some(obj) = v.as_object_mut() {
        if !obj.contains_key("signed") {
            let method = obj
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let signed = Method::from_name(method).is_none_or(|m| m.info().signed);
            obj.insert("signed".into(), signed.into());
        }
    }
    let Value::Object(obj) = &v else {
        return Err(format!(
            "expected an explanation object, found {}",
            kind_of(&v)
        ));
    };
    if obj.contains_key("error") && !obj.contains_key("scores") {
        return Err(format!(
            "is a calig batch error record ({}), not an explanation",
            obj["error"]
        ));
    }
    match obj.get("schema").and_then(Value::as_u64) {
        Some(s) if s == SCHEMA_VERSION as u64 => {}
        Some(s) => {
            return Err(format!(
                "schema {s}: this calig reads schema {SCHEMA_VERSION}"
            ))
        }
        None => return Err("not an explanation: no `schema` field".into()),
    }
    let line = obj.get("line").and_then(Value::as_u64);
    let id = obj.get("id").map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let e: Explanation =
        serde_json::from_value(v).map_err(|e| format!("not a valid explanation: {e}"))?;
    check(&e)?;
    Ok(Item {
        line,
        id,
        explanation: e,
    })
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The consistency a renderer relies on: lengths that agree, indices in range.
pub fn check(e: &Explanation) -> std::result::Result<(), String> {
    let n = e.tokens.len();
    let classes = e.labels.len();
    let need = |ok: bool, what: String| if ok { Ok(()) } else { Err(what) };
    need(classes > 0, "`labels` is empty".into())?;
    need(
        e.logits.len() == classes && e.probs.len() == classes,
        format!(
            "{} logits and {} probs for {classes} labels",
            e.logits.len(),
            e.probs.len()
        ),
    )?;
    for (what, c) in [("target", &e.target), ("predicted", &e.predicted)] {
        need(
            c.index < classes,
            format!("`{what}.index` {} is not below {classes} labels", c.index),
        )?;
    }
    match e.input.kind.as_str() {
        "text" => {
            need(
                e.scores.len() == n,
                format!("{} scores for {n} tokens", e.scores.len()),
            )?;
            need(
                e.word_scores.len() == e.words.len(),
                format!(
                    "{} word_scores for {} words",
                    e.word_scores.len(),
                    e.words.len()
                ),
            )?;
            let count = |t: &Option<String>| t.as_deref().map(|t| t.chars().count());
            let chars = [count(&e.input.text), count(&e.input.text_pair)];
            for (i, w) in e.words.iter().enumerate() {
                let (a, b) = w.token_range;
                need(
                    a < b && b <= n,
                    format!("word {i} covers tokens {a}..{b}, outside the {n} tokens"),
                )?;
                need(
                    w.segment == 0 || (w.segment == 1 && e.input.text_pair.is_some()),
                    format!(
                        "word {i} is in segment {} of a {} text",
                        w.segment,
                        if e.input.text_pair.is_some() {
                            "two-part"
                        } else {
                            "one-part"
                        }
                    ),
                )?;
                if let Some(c) = chars[w.segment as usize] {
                    need(
                        w.start <= w.end && w.end <= c,
                        format!(
                            "word {i} spans characters {}..{}, outside the {c}-character text",
                            w.start, w.end
                        ),
                    )?;
                }
            }
        }
        "image" => {
            let [gh, gw] = e
                .input
                .patch_grid
                .ok_or("an image explanation without `input.patch_grid`")?;
            need(
                gh.checked_mul(gw) == Some(e.scores.len()) && e.tokens.len() == e.scores.len() + 1,
                format!(
                    "{} scores and {} tokens for a {gh}x{gw} patch grid",
                    e.scores.len(),
                    e.tokens.len()
                ),
            )?;
        }
        k => return Err(format!("`input.kind` is `{k}`: expected text or image")),
    }
    if let Some(layers) = &e.layers {
        for (l, v) in layers.iter().enumerate() {
            if let Some(v) = v {
                need(
                    v.len() == n,
                    format!("layer {l} has {} scores for {n} tokens", v.len()),
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample;

    fn parse_str(s: &str) -> std::result::Result<Saved, String> {
        parse(Path::new("x.json"), s).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_one_object_an_array_and_json_lines() {
        let e = serde_json::to_string(&sample::text()).unwrap();
        assert_eq!(parse_str(&e).unwrap().kind, Kind::One);
        let arr = format!("[{e},{e}]");
        let s = parse_str(&arr).unwrap();
        assert_eq!((s.kind, s.items.len()), (Kind::Methods, 2));
        let mut v: Value = serde_json::from_str(&e).unwrap();
        v["line"] = 7.into();
        v["id"] = "r7".into();
        let lines = format!("{v}\n\n{v}\n");
        let s = parse_str(&lines).unwrap();
        assert_eq!((s.kind, s.items.len()), (Kind::Batch, 2));
        assert_eq!(
            (s.items[0].line, s.items[0].id.as_deref()),
            (Some(7), Some("r7"))
        );
    }

    #[test]
    fn bad_input_names_the_line_and_the_problem() {
        let e = serde_json::to_string(&sample::text()).unwrap();
        let cases = [
            ("".to_string(), "is empty"),
            ("[]".into(), "empty array"),
            (format!("{e}\n{{\"schema\": 1"), "line 2: not JSON"),
            (
                format!("{e}\n[1]"),
                "line 2: expected an explanation object, found an array",
            ),
            (e.replace("\"schema\":1", "\"schema\":9"), "schema 9"),
            (
                e.replace("\"tokens\"", "\"tokenz\""),
                "missing field `tokens`",
            ),
            (
                "{\"line\": 3, \"id\": \"a\", \"error\": \"empty text\"}".into(),
                "batch error record",
            ),
            (
                e.replace("\"scores\":[", "\"scores\":[1.0,"),
                "scores for 5 tokens",
            ),
            (
                e.replace("\"index\":1", "\"index\":4"),
                "is not below 2 labels",
            ),
        ];
        for (text, want) in cases {
            let err = parse_str(&text).unwrap_err();
            assert!(err.starts_with("x.json: "), "{err}");
            assert!(err.contains(want), "`{want}` not in: {err}");
        }
    }
}
