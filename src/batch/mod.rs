//! Data-set runs of `calig explain` ([`Job`]), as `calig batch` and Python's `Model.batch`
//! run them: the rows of a jsonl/tsv/csv file (read with the one table reader,
//! [`crate::data::rows`]), one explanation per row, appended to a resumable JSON-lines output
//! (store.rs) so that an interrupted run — `kill -9` included — continues with no lost and no
//! duplicated rows; deterministic shards for job arrays and their merge back into input order
//! (shard.rs); a lock so that two runs never write one file (lock.rs).

mod lock;
mod shard;

pub use lock::Lock;
pub use shard::{merge, Shard};

use crate::attr::{Method, Params};
use crate::data::rows::{self, Values, DEFAULT_INPUT};
use crate::error::{CaligError, Result};
use crate::explain::{explain_contrasted, ExplainInput};
use crate::model::LoadedModel;
use crate::store::JsonlStore;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;
use strum::{EnumMessage, IntoStaticStr, VariantArray};

/// One input row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based line of the row in its file (the header is line 1 of a table).
    pub line: usize,
    /// The id column's value, else the row index from 0 ([`crate::data::rows`]).
    pub id: String,
    pub input: RowInput,
    /// The class to explain, when the file names one.
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RowInput {
    Text(String),
    /// A sentence pair (`--pair-column`).
    Pair(String, String),
    Image(PathBuf),
    /// The row cannot be used; the reason names the problem.
    Bad(String),
}

impl Row {
    /// What to explain, or why the row cannot be used.
    pub fn explain_input(&self) -> std::result::Result<ExplainInput, String> {
        match &self.input {
            RowInput::Text(t) => Ok(ExplainInput::Text(t.clone())),
            RowInput::Pair(a, b) => Ok(ExplainInput::Pair(a.clone(), b.clone())),
            RowInput::Image(p) => Ok(ExplainInput::Image(p.clone())),
            RowInput::Bad(why) => Err(why.clone()),
        }
    }
}

/// Which columns hold what.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    /// The text column (text models) or the image-path column (image models); None: `text`,
    /// else `sentence`.
    pub input: Option<String>,
    pub is_image: bool,
    /// The column of a sentence pair's second text (text models).
    pub pair: Option<String>,
    /// The id column; `None` uses the column or field `id` where there is one, else the row
    /// index from 0.
    pub id: Option<String>,
    pub target: Option<String>,
}

/// Reads every row of a .jsonl, .tsv or .csv file. A row that cannot be used becomes
/// [`RowInput::Bad`] with its line, so the caller decides whether it fails the run; a file
/// without the input column is an error. Image paths are relative to the file's directory.
pub fn read_rows(path: &Path, cols: &Columns) -> Result<Vec<Row>> {
    let base = path.parent().unwrap_or(Path::new("."));
    let named = cols.input.as_deref().map(|c| [c]);
    let table = rows::Columns {
        input: named.as_ref().map_or(DEFAULT_INPUT, |n| &n[..]),
        pair: cols.pair.as_deref(),
        label: None,
        id: cols.id.as_deref(),
        target: cols.target.as_deref(),
    };
    Ok(rows::read_rows(path, &table)?
        .into_iter()
        .map(|r| {
            let (input, target) = match r.values {
                Err(why) => (RowInput::Bad(why), None),
                Ok(v) if cols.is_image => (RowInput::Image(base.join(v.input)), v.target),
                Ok(Values {
                    input,
                    pair: Some(pair),
                    target,
                    ..
                }) => (RowInput::Pair(input, pair), target),
                Ok(v) => (RowInput::Text(v.input), v.target),
            };
            Row {
                line: r.line,
                id: r.id,
                input,
                target,
            }
        })
        .collect())
}

/// What a row that cannot be explained does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, VariantArray, IntoStaticStr, EnumMessage)]
#[strum(serialize_all = "kebab-case")]
pub enum OnError {
    /// Stop at the first bad row (the rows before it are kept; `--resume` continues).
    #[default]
    Fail,
    /// Skip bad rows: listed in the summary and in OUTPUT.errors.jsonl.
    Skip,
}

/// One batch run: every row of `input` (or of this shard) explained into `output`.
#[derive(Debug, Clone)]
pub struct Job {
    pub input: PathBuf,
    pub output: PathBuf,
    pub columns: Columns,
    pub method: Method,
    pub params: Params,
    /// Explain every row's target rather than this class (a label, an index or `rest`).
    pub contrast: Option<String>,
    /// Continue an interrupted run: rows already in the output are not explained again.
    pub resume: bool,
    pub shard: Option<Shard>,
    pub on_error: OnError,
    /// A progress bar on stderr.
    pub progress: bool,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Summary {
    pub explained: usize,
    /// Rows an earlier run had already explained.
    pub already_done: usize,
    /// The rows skipped by this run, each described with its line and id.
    pub skipped: Vec<String>,
    /// Where skipped rows are listed (`OUTPUT.errors.jsonl`).
    pub errors_path: PathBuf,
    pub seconds: f64,
}

impl Job {
    /// A job with the defaults: every row, the method's settings at their defaults for the
    /// input kind, stopping at a bad row, no progress bar.
    pub fn new(input: impl Into<PathBuf>, output: impl Into<PathBuf>, method: Method) -> Self {
        Self {
            input: input.into(),
            output: output.into(),
            columns: Columns::default(),
            method,
            params: Params::defaults(true),
            contrast: None,
            resume: false,
            shard: None,
            on_error: OnError::Fail,
            progress: false,
        }
    }

    /// The side file that lists skipped rows.
    pub fn errors_path(&self) -> PathBuf {
        PathBuf::from(format!("{}.errors.jsonl", self.output.display()))
    }

    /// Explains the rows not done yet into the output (taking its lock); a bad row stops the
    /// run or is skipped, as `on_error` says.
    pub fn run(&self, m: &LoadedModel) -> Result<Summary> {
        let is_image = self.columns.is_image;
        if m.config.family.is_text() == is_image {
            return Err(CaligError::InvalidInput(format!(
                "{} is {} model: use {}",
                m.source.name(),
                if is_image { "a text" } else { "an image" },
                if is_image {
                    "--text-column"
                } else {
                    "--image-column"
                }
            )));
        }
        self.params.validate()?;
        let rows = read_rows(&self.input, &self.columns)?;
        let _lock = Lock::acquire(&self.output)?;
        let existing = std::fs::metadata(&self.output).map_or(0, |m| m.len());
        if existing > 0 && !self.resume {
            return Err(CaligError::InvalidInput(format!(
                "{} already has results: add --resume to continue it, or choose another --output",
                self.output.display()
            )));
        }
        let (mut store, done) = JsonlStore::open::<serde_json::Value>(&self.output)?;
        let done = lines_of(&done);
        let errors_path = self.errors_path();
        // Rows skipped by an earlier run stay skipped; the side file is created at the first
        // error.
        let (mut errors, skipped_before) = if errors_path.is_file() {
            let (store, earlier) = JsonlStore::open::<serde_json::Value>(&errors_path)?;
            (Some(store), lines_of(&earlier))
        } else {
            (None, HashSet::new())
        };
        let todo: Vec<&Row> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| self.shard.is_none_or(|s| s.takes(*i)))
            .map(|(_, r)| r)
            .filter(|r| {
                !done.contains(&(r.line as u64)) && !skipped_before.contains(&(r.line as u64))
            })
            .collect();
        let bar = crate::progress::bar(
            self.progress,
            todo.len(),
            "batch [{bar:30}] {pos}/{len} rows, {per_sec}, ETA {eta}",
        );
        let start = Instant::now();
        let (mut explained, mut skipped) = (0usize, Vec::new());
        for row in todo {
            match self.explain_row(m, row) {
                Ok(record) => {
                    store.append(&record)?;
                    explained += 1;
                }
                Err(why) => {
                    let what = format!(
                        "{}: line {} (id {}): {why}",
                        self.input.display(),
                        row.line,
                        row.id
                    );
                    if self.on_error == OnError::Fail {
                        bar.abandon();
                        return Err(CaligError::InvalidInput(format!(
                            "{what}; the {explained} rows before it are in {} (--resume \
                             continues; --on-error skip skips bad rows)",
                            self.output.display()
                        )));
                    }
                    let store = match &mut errors {
                        Some(s) => s,
                        None => {
                            errors.insert(JsonlStore::open::<serde_json::Value>(&errors_path)?.0)
                        }
                    };
                    store.append(
                        &serde_json::json!({"line": row.line, "id": row.id, "error": why}),
                    )?;
                    skipped.push(what);
                }
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(Summary {
            explained,
            already_done: done.len(),
            skipped,
            errors_path,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// The record of one row (its `line` and `id`, then the explanation), or why it failed.
    fn explain_row(
        &self,
        m: &LoadedModel,
        row: &Row,
    ) -> std::result::Result<serde_json::Value, String> {
        let input = row.explain_input()?;
        let e = explain_contrasted(
            m,
            &input,
            row.target.as_deref(),
            self.contrast.as_deref(),
            self.method,
            &self.params,
        )
        .map_err(|e| e.to_string())?;
        let mut record = serde_json::Map::new();
        record.insert("line".into(), row.line.into());
        record.insert("id".into(), row.id.clone().into());
        if let serde_json::Value::Object(mut fields) =
            serde_json::to_value(&e).map_err(|e| e.to_string())?
        {
            record.append(&mut fields);
        }
        Ok(record.into())
    }
}

/// The input lines that records name.
fn lines_of(records: &[serde_json::Value]) -> HashSet<u64> {
    records.iter().filter_map(|v| v["line"].as_u64()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Columns {
        Columns {
            input: Some("text".into()),
            is_image: false,
            pair: None,
            id: Some("id".into()),
            target: Some("label".into()),
        }
    }

    #[test]
    fn rows_keep_their_lines_and_bad_rows_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.jsonl");
        std::fs::write(
            &p,
            b"{\"id\": \"a\", \"text\": \"good\", \"label\": \"positive\"}\n\n{\"id\": \"b\"}\nnot json\n{\"text\": \"\xff\"}\n",
        )
        .unwrap();
        let rows = read_rows(&p, &cols()).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!((rows[0].line, rows[0].id.as_str()), (1, "a"));
        assert_eq!(rows[0].target.as_deref(), Some("positive"));
        assert_eq!(rows[1].input, RowInput::Bad("no `text` value".into()));
        assert_eq!(rows[1].line, 3);
        assert!(matches!(&rows[2].input, RowInput::Bad(w) if w.starts_with("not JSON")));
        assert_eq!(rows[3].input, RowInput::Bad("not valid UTF-8".into()));
        let t = dir.path().join("in.tsv");
        std::fs::write(&t, b"id\ttext\nx\tfine\ny\t\xff\n").unwrap();
        let mut c = cols();
        c.target = None;
        let rows = read_rows(&t, &c).unwrap();
        assert_eq!((rows[0].line, rows[0].id.as_str()), (2, "x"));
        assert_eq!(
            rows[1].input,
            RowInput::Bad("a cell is invalid utf-8".into())
        );
        c.input = Some("sentence".into());
        let e = read_rows(&t, &c).unwrap_err().to_string();
        assert!(
            e.contains("no column `sentence`") && e.contains("--text-column"),
            "{e}"
        );
    }

    #[test]
    fn ids_without_an_id_column_are_row_indices_and_images_resolve_beside_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("in.csv");
        std::fs::write(&t, "path\na.png\nb.png\n").unwrap();
        let c = Columns {
            input: Some("path".into()),
            is_image: true,
            ..Columns::default()
        };
        let rows = read_rows(&t, &c).unwrap();
        assert_eq!((rows[0].id.as_str(), rows[1].id.as_str()), ("0", "1"));
        assert_eq!(rows[1].input, RowInput::Image(dir.path().join("b.png")));
    }
}
