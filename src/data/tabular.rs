//! Text data sets in tables: TSV or CSV with a header, or JSON lines, with the text and label
//! columns named by the caller. Labels are class indices or names (resolved by `label_of`).

use super::{bad, json_lines, Example};
use crate::error::{CaligError, Result};
use std::path::Path;

/// Which columns hold what.
pub struct Table<'a> {
    pub text_column: &'a str,
    pub label_column: &'a str,
    /// Optional id column (default: the 0-based row number).
    pub id_column: Option<&'a str>,
}

/// Reads `path` by its extension: `.tsv`, `.csv` (header row) or `.jsonl`.
pub fn read_table(
    path: &Path,
    table: &Table,
    label_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<Vec<Example>> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "jsonl" | "json" => read_json_lines(path, table, label_of),
        "tsv" | "csv" => read_delimited(
            path,
            if ext == "tsv" { b'\t' } else { b',' },
            table,
            label_of,
        ),
        _ => Err(CaligError::InvalidFile {
            path: path.to_path_buf(),
            reason: "unknown table format: use .tsv, .csv or .jsonl".into(),
        }),
    }
}

fn label(
    path: &Path,
    line: usize,
    value: &str,
    label_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<usize> {
    label_of(value.trim()).ok_or_else(|| {
        bad(
            path,
            line,
            format!("label `{value}` is not a class of the model"),
        )
    })
}

fn read_json_lines(
    path: &Path,
    table: &Table,
    label_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<Vec<Example>> {
    let mut out = Vec::new();
    for (i, v) in json_lines(path)? {
        let field = |k: &str| -> Option<String> {
            match &v[k] {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let text = field(table.text_column).ok_or_else(|| {
            bad(
                path,
                i + 1,
                format!("no text field `{}`", table.text_column),
            )
        })?;
        let y = field(table.label_column).ok_or_else(|| {
            bad(
                path,
                i + 1,
                format!("no label field `{}`", table.label_column),
            )
        })?;
        let id = table
            .id_column
            .and_then(field)
            .or_else(|| field("id"))
            .unwrap_or_else(|| out.len().to_string());
        out.push(Example {
            id,
            text,
            label: label(path, i + 1, &y, label_of)?,
            line: i + 1,
            evidence: vec![],
            image: None,
        });
    }
    Ok(out)
}

fn read_delimited(
    path: &Path,
    delimiter: u8,
    table: &Table,
    label_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<Vec<Example>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quoting(delimiter == b',')
        .flexible(false)
        .from_path(path)
        .map_err(|e| CaligError::InvalidFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let headers = reader
        .headers()
        .map_err(|e| bad(path, 1, e.to_string()))?
        .clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            bad(
                path,
                1,
                format!(
                    "no column `{name}` in the header ({})",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    };
    let (t, y) = (column(table.text_column)?, column(table.label_column)?);
    let id = table.id_column.map(column).transpose()?;
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            bad(path, line, e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let text = record.get(t).unwrap_or_default().trim().to_string();
        if text.is_empty() {
            continue;
        }
        out.push(Example {
            id: id
                .and_then(|c| record.get(c))
                .map_or_else(|| out.len().to_string(), str::to_string),
            label: label(path, line, record.get(y).unwrap_or_default(), label_of)?,
            text,
            line,
            evidence: vec![],
            image: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(s: &str) -> Option<usize> {
        match s {
            "neg" | "0" => Some(0),
            "pos" | "1" => Some(1),
            _ => None,
        }
    }

    #[test]
    fn tsv_csv_and_jsonl_by_column_name() {
        let dir = tempfile::tempdir().unwrap();
        let t = Table {
            text_column: "sentence",
            label_column: "label",
            id_column: None,
        };
        let tsv = dir.path().join("a.tsv");
        std::fs::write(&tsv, "sentence\tlabel\ngood \"film\"\t1\nbad\tneg\n").unwrap();
        let ex = read_table(&tsv, &t, &labels).unwrap();
        assert_eq!(
            (ex[0].text.as_str(), ex[0].label, ex[0].line),
            ("good \"film\"", 1, 2)
        );
        assert_eq!((ex[1].label, ex[1].id.as_str()), (0, "1"));
        let csv = dir.path().join("a.csv");
        std::fs::write(&csv, "id,sentence,label\nx7,\"a, b\",pos\n").unwrap();
        let t2 = Table {
            id_column: Some("id"),
            ..t
        };
        let ex = read_table(&csv, &t2, &labels).unwrap();
        assert_eq!((ex[0].id.as_str(), ex[0].text.as_str()), ("x7", "a, b"));
        let jl = dir.path().join("a.jsonl");
        std::fs::write(
            &jl,
            "{\"sentence\": \"ok\", \"label\": 1}\n\n{\"sentence\": \"no\", \"label\": \"pos\"}\n",
        )
        .unwrap();
        let ex = read_table(&jl, &t, &labels).unwrap();
        assert_eq!((ex.len(), ex[1].line), (2, 3));
        std::fs::write(&tsv, "sentence\tlabel\nfine\tmaybe\n").unwrap();
        let err = read_table(&tsv, &t, &labels).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("`maybe`"), "{err}");
        std::fs::write(&tsv, "text\tlabel\nfine\t1\n").unwrap();
        let err = read_table(&tsv, &t, &labels).unwrap_err().to_string();
        assert!(err.contains("no column `sentence`"), "{err}");
    }
}
