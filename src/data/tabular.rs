//! Labelled texts in tables (TSV or CSV with a header, or JSON lines), read with the one table
//! reader ([`super::rows`]): the text and label columns named by the caller, ids by its rule
//! (an id column when the file has one, else the row index from 0). Labels are class indices or
//! names (resolved by `label_of`); a row without a usable text or label is an error naming its
//! line; rows whose text is empty are left out.

use super::rows::{read_rows, Columns};
use super::{bad, Example};
use crate::error::Result;
use std::path::Path;

/// Which columns hold what.
pub struct Table<'a> {
    /// The text column: the first of these that the file has.
    pub text_columns: &'a [&'a str],
    pub label_column: &'a str,
    /// The id column (default: a column `id` where there is one, else the row index from 0).
    pub id_column: Option<&'a str>,
    /// The column of a sentence pair's second text, required in every row when named.
    pub pair_column: Option<&'a str>,
}

/// Reads `path` by its extension: `.tsv`, `.csv` (header row) or `.jsonl`.
pub fn read_table(
    path: &Path,
    table: &Table,
    label_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<Vec<Example>> {
    let cols = Columns {
        input: table.text_columns,
        pair: table.pair_column,
        label: Some(table.label_column),
        id: table.id_column,
        target: None,
    };
    let mut out = Vec::new();
    for row in read_rows(path, &cols)? {
        let values = row.values.map_err(|why| bad(path, row.line, why))?;
        if values.input.trim().is_empty() {
            continue;
        }
        let y = values.label.unwrap_or_default();
        let label = label_of(y.trim()).ok_or_else(|| {
            bad(
                path,
                row.line,
                format!("label `{y}` is not a class of the model"),
            )
        })?;
        out.push(Example {
            id: row.id,
            text: values.input,
            text_pair: values.pair,
            label,
            line: row.line,
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
            text_columns: &["sentence"],
            label_column: "label",
            id_column: None,
            pair_column: None,
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

    #[test]
    fn ids_come_from_an_id_column_when_present_else_the_row_index() {
        let dir = tempfile::tempdir().unwrap();
        let t = Table {
            text_columns: crate::data::rows::DEFAULT_INPUT,
            label_column: "label",
            id_column: None,
            pair_column: None,
        };
        let tsv = dir.path().join("a.tsv");
        std::fs::write(&tsv, "text\tid\tlabel\nok\tr1\tpos\n").unwrap();
        assert_eq!(read_table(&tsv, &t, &labels).unwrap()[0].id, "r1");
        std::fs::write(&tsv, "text\tlabel\nok\tpos\nfine\tneg\n").unwrap();
        let ex = read_table(&tsv, &t, &labels).unwrap();
        assert_eq!((ex[0].id.as_str(), ex[1].id.as_str()), ("0", "1"));
    }
}
