//! The one reader of tables of inputs, for `calig batch` and `calig eval`: JSON lines
//! (`.jsonl`, `.json`), or `.tsv` / `.csv` with a header row. The caller names the columns;
//! every row comes back with its line and its id, and a row that cannot be used (a missing
//! value, invalid UTF-8, a line that is not JSON) comes back with the reason, so that the
//! caller's policy decides whether it fails the run (`calig eval`) or is skipped
//! (`calig batch --on-error skip`). A file without the input column is an error.
//!
//! **Ids.** A row's id is the value of the id column when the file has one (the column the
//! caller names, else a column or JSON field called `id`); otherwise it is the row's index
//! among the file's rows, from 0 (the header is not a row, nor is a blank line).
//!
//! Table cells are trimmed of surrounding white space; JSON values are taken as they are
//! (numbers and other non-string values as their JSON text).

use crate::error::{CaligError, Result};
use serde_json::Value;
use std::path::Path;

/// Which columns (JSON fields) hold what.
#[derive(Debug, Clone)]
pub struct Columns<'a> {
    /// The input (text, or an image path): the first of these names that the file has.
    pub input: &'a [&'a str],
    /// The second text of a sentence pair, required in every row when named.
    pub pair: Option<&'a str>,
    /// The label, required in every row when named.
    pub label: Option<&'a str>,
    /// The id; None uses a column or field `id` where there is one.
    pub id: Option<&'a str>,
    /// The class to explain, required in every row when named (a row without one would be
    /// explained for another class without a word).
    pub target: Option<&'a str>,
}

/// The input columns tried when the caller names none: `text`, then `sentence` (SST-2's TSV).
pub const DEFAULT_INPUT: &[&str] = &["text", "sentence"];

/// One row of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The row's position among the file's rows, from 0.
    pub index: usize,
    /// 1-based line of the row in its file (the header is line 1 of a table).
    pub line: usize,
    /// See the module documentation.
    pub id: String,
    /// The row's values, or why it cannot be used.
    pub values: std::result::Result<Values, String>,
}

/// The values of a usable row.
#[derive(Debug, Clone, PartialEq)]
pub struct Values {
    pub input: String,
    pub pair: Option<String>,
    pub label: Option<String>,
    pub target: Option<String>,
}

fn invalid(path: &Path, line: usize, reason: impl Into<String>) -> CaligError {
    CaligError::InvalidFile {
        path: path.to_path_buf(),
        reason: format!("line {line}: {}", reason.into()),
    }
}

/// "`a`" or "`a` or `b`".
fn either(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(" or ")
}

/// Reads every row of `path` by its extension.
pub fn read_rows(path: &Path, cols: &Columns) -> Result<Vec<Row>> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "jsonl" | "json" => read_json_lines(path, cols),
        "tsv" | "csv" => read_table(path, if ext == "tsv" { b'\t' } else { b',' }, cols),
        other => Err(CaligError::InvalidFile {
            path: path.to_path_buf(),
            reason: format!("a table of inputs must be .jsonl, .tsv or .csv (got `.{other}`)"),
        }),
    }
}

fn read_json_lines(path: &Path, cols: &Columns) -> Result<Vec<Row>> {
    let bytes = std::fs::read(path).map_err(|e| CaligError::io(path, e))?;
    let mut rows = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = std::str::from_utf8(raw)
            .map_err(|_| "not valid UTF-8".to_string())
            .and_then(|t| serde_json::from_str::<Value>(t).map_err(|e| format!("not JSON: {e}")));
        let index = rows.len();
        let field = |v: &Value, name: &str| match &v[name] {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        };
        let id = parsed
            .as_ref()
            .ok()
            .and_then(|v| field(v, cols.id.unwrap_or("id")))
            .unwrap_or_else(|| index.to_string());
        let values = parsed.and_then(|v| {
            let input = cols
                .input
                .iter()
                .find_map(|c| field(&v, c))
                .ok_or_else(|| format!("no {} value", either(cols.input)))?;
            let required = |name: Option<&str>, what: &str| match name {
                Some(c) => field(&v, c)
                    .map(Some)
                    .ok_or_else(|| format!("no {what} field `{c}`")),
                None => Ok(None),
            };
            Ok(Values {
                input,
                pair: required(cols.pair, "pair")?,
                label: required(cols.label, "label")?,
                target: required(cols.target, "target")?,
            })
        });
        rows.push(Row {
            index,
            line: i + 1,
            id,
            values,
        });
    }
    Ok(rows)
}

/// The line of a quote that opens a field and is never closed: in a well-formed CSV the quotes
/// pair up (an escaped quote is doubled), so an odd count means the last one opened is unclosed
/// (the csv reader would take the rest of the file as one field).
fn unclosed_quote(bytes: &[u8]) -> Option<usize> {
    let (mut open_at, mut line) = (None, 1);
    for &b in bytes {
        match b {
            b'\n' => line += 1,
            b'"' => open_at = if open_at.is_some() { None } else { Some(line) },
            _ => {}
        }
    }
    open_at
}

fn read_table(path: &Path, delimiter: u8, cols: &Columns) -> Result<Vec<Row>> {
    if delimiter == b',' {
        let bytes = std::fs::read(path).map_err(|e| CaligError::io(path, e))?;
        if let Some(line) = unclosed_quote(&bytes) {
            return Err(invalid(
                path,
                line,
                "a quoted field opened here is never closed",
            ));
        }
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quoting(delimiter == b',')
        .flexible(true)
        .from_path(path)
        .map_err(|e| invalid(path, 1, e.to_string()))?;
    let headers = reader
        .headers()
        .map_err(|e| invalid(path, 1, e.to_string()))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let required = |names: &[&str], hint: &str| {
        names.iter().find_map(|n| column(n)).ok_or_else(|| {
            invalid(
                path,
                1,
                format!(
                    "no column {} in the header ({}){hint}",
                    either(names),
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    };
    let input = required(cols.input, "; name it with --text-column (--image-column)")?;
    let pair = cols.pair.map(|c| required(&[c], "")).transpose()?;
    let label = cols.label.map(|c| required(&[c], "")).transpose()?;
    let target = cols.target.map(|c| required(&[c], "")).transpose()?;
    let id = match cols.id {
        Some(c) => Some(required(&[c], "")?),
        None => column("id"),
    };
    let mut rows = Vec::new();
    for record in reader.byte_records() {
        let record = record.map_err(|e| invalid(path, 0, e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let cell = |i: usize| -> std::result::Result<Option<String>, String> {
            match record.get(i) {
                None => Ok(None),
                Some(b) => std::str::from_utf8(b)
                    .map(|s| Some(s.trim().to_string()))
                    .map_err(|_| "a cell is invalid utf-8".to_string()),
            }
        };
        let index = rows.len();
        let values = (|| {
            Ok(Values {
                input: cell(input)?.ok_or_else(|| format!("no {} value", either(cols.input)))?,
                pair: match pair {
                    Some(c) => Some(cell(c)?.ok_or("no pair value")?),
                    None => None,
                },
                label: match label {
                    Some(c) => Some(cell(c)?.ok_or("no label value")?),
                    None => None,
                },
                target: match target {
                    Some(c) => Some(cell(c)?.ok_or("no target value")?),
                    None => None,
                },
            })
        })();
        rows.push(Row {
            index,
            line,
            id: id
                .and_then(|c| cell(c).ok().flatten())
                .unwrap_or_else(|| index.to_string()),
            values,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols<'a>(input: &'a [&'a str]) -> Columns<'a> {
        Columns {
            input,
            pair: None,
            label: None,
            id: None,
            target: Some("label"),
        }
    }

    #[test]
    fn json_lines_keep_lines_ids_and_the_reason_a_row_is_bad() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.jsonl");
        std::fs::write(
            &p,
            b"{\"id\": \"a\", \"text\": \"good\", \"label\": \"positive\"}\n\n{\"x\": 1}\nnot json\n{\"text\": \"\xff\"}\n{\"text\": \"ok\"}\n",
        )
        .unwrap();
        let rows = read_rows(&p, &cols(DEFAULT_INPUT)).unwrap();
        assert_eq!(rows.len(), 5);
        // Named, the target is required: a row without one is not explained for another class.
        assert_eq!(rows[4].values, Err("no target field `label`".into()));
        assert_eq!((rows[0].line, rows[0].id.as_str()), (1, "a"));
        let v = rows[0].values.as_ref().unwrap();
        assert_eq!(v.target.as_deref(), Some("positive"));
        assert_eq!(rows[1].values, Err("no `text` or `sentence` value".into()));
        assert_eq!((rows[1].line, rows[1].id.as_str()), (3, "1"));
        assert!(matches!(&rows[2].values, Err(w) if w.starts_with("not JSON")));
        assert_eq!(rows[3].values, Err("not valid UTF-8".into()));
        // No id field: the row index from 0 (blank lines are not rows).
        assert_eq!((rows[4].index, rows[4].id.as_str()), (4, "4"));
        let untargeted = Columns {
            target: None,
            ..cols(DEFAULT_INPUT)
        };
        assert_eq!(
            read_rows(&p, &untargeted).unwrap()[4]
                .values
                .as_ref()
                .unwrap()
                .input,
            "ok"
        );
    }

    #[test]
    fn tables_find_the_input_column_and_use_an_id_column_when_present() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("in.tsv");
        std::fs::write(&t, b"id\ttext\tlabel\nx\tfine \t\ny\t\xff\n").unwrap();
        let rows = read_rows(&t, &cols(DEFAULT_INPUT)).unwrap();
        assert_eq!((rows[0].line, rows[0].id.as_str()), (2, "x"));
        assert_eq!(rows[0].values.as_ref().unwrap().input, "fine");
        // An empty cell of an optional column is a value; a missing one is none.
        assert_eq!(rows[0].values.as_ref().unwrap().target.as_deref(), Some(""));
        assert_eq!(rows[1].values, Err("a cell is invalid utf-8".into()));
        let e = read_rows(&t, &cols(&["sentence"])).unwrap_err().to_string();
        assert!(
            e.contains("no column `sentence`") && e.contains("--text-column"),
            "{e}"
        );
        let s = dir.path().join("sst.tsv");
        std::fs::write(&s, "sentence\tlabel\na b \t1\n").unwrap();
        let rows = read_rows(&s, &cols(DEFAULT_INPUT)).unwrap();
        assert_eq!(
            (
                rows[0].id.as_str(),
                rows[0].values.as_ref().unwrap().input.as_str()
            ),
            ("0", "a b")
        );
        let c = dir.path().join("in.csv");
        std::fs::write(&c, "text,label\n\"a, b\",pos\nshort\n").unwrap();
        let mut with_label = cols(DEFAULT_INPUT);
        with_label.label = Some("label");
        let rows = read_rows(&c, &with_label).unwrap();
        assert_eq!(
            rows[0].values.as_ref().unwrap().label.as_deref(),
            Some("pos")
        );
        assert_eq!(rows[1].values, Err("no label value".into()));
        // An unclosed quote at the end is an error naming its line, not one long last field.
        std::fs::write(&c, "text,label\n\"a, \"\"b\"\"\",pos\n\"open,neg\n").unwrap();
        let e = read_rows(&c, &with_label).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("never closed"), "{e}");
        let bad = dir.path().join("in.txt");
        std::fs::write(&bad, "x").unwrap();
        assert!(read_rows(&bad, &with_label)
            .unwrap_err()
            .to_string()
            .contains(".jsonl, .tsv or .csv"));
    }
}
