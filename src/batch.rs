//! Data-set runs of `calig explain`: the rows of a jsonl/tsv/csv file, one explanation per row,
//! appended to a resumable JSON-lines output (store.rs) so that an interrupted run — `kill -9`
//! included — continues with no lost and no duplicated rows; deterministic shards for job
//! arrays and their merge back into input order; a lock so that two runs never write one file.

use crate::error::{CaligError, Result};
use crate::explain::ExplainInput;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One input row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based line of the row in its file (the header is line 1 of a table).
    pub line: usize,
    /// The id column's value, else the line number.
    pub id: String,
    pub input: RowInput,
    /// The class to explain, when the file names one.
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RowInput {
    Text(String),
    Image(PathBuf),
    /// The row cannot be used; the reason names the problem.
    Bad(String),
}

impl Row {
    /// What to explain, or why the row cannot be used.
    pub fn explain_input(&self) -> std::result::Result<ExplainInput, String> {
        match &self.input {
            RowInput::Text(t) => Ok(ExplainInput::Text(t.clone())),
            RowInput::Image(p) => Ok(ExplainInput::Image(p.clone())),
            RowInput::Bad(why) => Err(why.clone()),
        }
    }
}

/// Which columns hold what.
#[derive(Debug, Clone)]
pub struct Columns {
    /// The text column (text models) or the image-path column (image models).
    pub input: String,
    pub is_image: bool,
    /// The id column; `None` uses the column or field `id` where there is one, else the line.
    pub id: Option<String>,
    pub target: Option<String>,
}

fn invalid(path: &Path, line: usize, reason: impl Into<String>) -> CaligError {
    CaligError::InvalidFile {
        path: path.to_path_buf(),
        reason: format!("line {line}: {}", reason.into()),
    }
}

/// Reads every row of a .jsonl, .tsv or .csv file. A row that cannot be used (a missing field,
/// invalid UTF-8, a line that is not JSON) becomes [`RowInput::Bad`] with its line, so the
/// caller decides whether it fails the run; a file without the input column is an error.
/// Image paths are relative to the file's directory.
pub fn read_rows(path: &Path, cols: &Columns) -> Result<Vec<Row>> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let base = path.parent().unwrap_or(Path::new("."));
    let make = |line: usize, input: Option<String>, id: Option<String>, target: Option<String>| {
        let input = match input {
            None => RowInput::Bad(format!("no `{}` value", cols.input)),
            Some(v) if cols.is_image => RowInput::Image(base.join(v)),
            Some(v) => RowInput::Text(v),
        };
        Row {
            line,
            id: id.unwrap_or_else(|| line.to_string()),
            input,
            target,
        }
    };
    match ext {
        "jsonl" | "json" => {
            let bytes = std::fs::read(path).map_err(|e| CaligError::io(path, e))?;
            let mut rows = Vec::new();
            for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
                let line = i + 1;
                if raw.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let parsed = std::str::from_utf8(raw)
                    .map_err(|_| "not valid UTF-8".to_string())
                    .and_then(|t| {
                        serde_json::from_str::<Value>(t).map_err(|e| format!("not JSON: {e}"))
                    });
                let v = match parsed {
                    Ok(v) => v,
                    Err(why) => {
                        rows.push(Row {
                            line,
                            id: line.to_string(),
                            input: RowInput::Bad(why),
                            target: None,
                        });
                        continue;
                    }
                };
                let field = |name: &str| match &v[name] {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => None,
                    other => Some(other.to_string()),
                };
                rows.push(make(
                    line,
                    field(&cols.input),
                    field(cols.id.as_deref().unwrap_or("id")),
                    cols.target.as_deref().and_then(field),
                ));
            }
            Ok(rows)
        }
        "tsv" | "csv" => {
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(if ext == "tsv" { b'\t' } else { b',' })
                .quoting(ext == "csv")
                .flexible(true)
                .from_path(path)
                .map_err(|e| invalid(path, 1, e.to_string()))?;
            let headers = reader
                .headers()
                .map_err(|e| invalid(path, 1, e.to_string()))?
                .clone();
            let column = |name: &str| headers.iter().position(|h| h == name);
            let input = column(&cols.input).ok_or_else(|| {
                invalid(
                    path,
                    1,
                    format!(
                        "no column `{}` in the header ({}); name it with --{}-column",
                        cols.input,
                        headers.iter().collect::<Vec<_>>().join(", "),
                        if cols.is_image { "image" } else { "text" }
                    ),
                )
            })?;
            let id = cols
                .id
                .as_deref()
                .map(|c| column(c).ok_or_else(|| invalid(path, 1, format!("no column `{c}`"))));
            let id = id.transpose()?;
            let target = cols
                .target
                .as_deref()
                .map(|c| column(c).ok_or_else(|| invalid(path, 1, format!("no column `{c}`"))));
            let target = target.transpose()?;
            let mut rows = Vec::new();
            for record in reader.byte_records() {
                let record = record.map_err(|e| invalid(path, 0, e.to_string()))?;
                let line = record.position().map_or(0, |p| p.line() as usize);
                let get = |i: usize| -> std::result::Result<Option<String>, String> {
                    match record.get(i) {
                        None => Ok(None),
                        Some(b) => std::str::from_utf8(b)
                            .map(|s| Some(s.to_string()))
                            .map_err(|_| "not valid UTF-8".to_string()),
                    }
                };
                let fields = (|| -> std::result::Result<_, String> {
                    Ok((
                        get(input)?,
                        id.map(get).transpose()?.flatten(),
                        target.map(get).transpose()?.flatten(),
                    ))
                })();
                rows.push(match fields {
                    Ok((i, d, t)) => make(line, i, d, t),
                    Err(why) => Row {
                        line,
                        id: line.to_string(),
                        input: RowInput::Bad(why),
                        target: None,
                    },
                });
            }
            Ok(rows)
        }
        other => Err(CaligError::InvalidInput(format!(
            "{}: batch input must be .jsonl, .tsv or .csv (got `.{other}`)",
            path.display()
        ))),
    }
}

/// `I/N` with 0 ≤ I < N: this copy takes the rows whose position in the file is I modulo N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("`{s}` is not a shard I/N with 0 <= I < N");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    pub fn takes(&self, position: usize) -> bool {
        position % self.count == self.index
    }
}

/// An exclusive claim on an output file: `OUTPUT.lock` holding the owner's pid. A lock left by
/// a process that no longer runs (a killed run) is taken over.
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    pub fn acquire(output: &Path) -> Result<Self> {
        let path = PathBuf::from(format!("{}.lock", output.display()));
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| CaligError::io(parent, e))?;
        }
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    write!(f, "{}", std::process::id()).map_err(|e| CaligError::io(&path, e))?;
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&path).unwrap_or_default();
                    let alive = owner
                        .trim()
                        .parse::<u32>()
                        .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                    if alive {
                        return Err(CaligError::InvalidInput(format!(
                            "{} is being written by another calig run (pid {}; {} is its lock)",
                            output.display(),
                            owner.trim(),
                            path.display()
                        )));
                    }
                    std::fs::remove_file(&path).map_err(|e| CaligError::io(&path, e))?;
                }
                Err(e) => return Err(CaligError::io(&path, e)),
            }
        }
        Err(CaligError::InvalidInput(format!(
            "cannot take the lock {}",
            path.display()
        )))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Joins shard outputs into input order (by each record's `line`); a line in two shards is an
/// error, as is a record without `line`. Returns the merged JSON lines.
pub fn merge(shards: &[PathBuf]) -> Result<String> {
    let mut by_line: BTreeMap<u64, (String, &Path)> = BTreeMap::new();
    for shard in shards {
        let text = std::fs::read_to_string(shard).map_err(|e| CaligError::io(shard, e))?;
        for (i, raw) in text.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(raw)
                .map_err(|e| invalid(shard, i + 1, format!("not a batch record: {e}")))?;
            let line = v["line"]
                .as_u64()
                .ok_or_else(|| invalid(shard, i + 1, "a batch record without `line`"))?;
            if let Some((_, other)) = by_line.insert(line, (raw.to_string(), shard)) {
                return Err(invalid(
                    shard,
                    i + 1,
                    format!("input line {line} is also in {}", other.display()),
                ));
            }
        }
    }
    Ok(by_line.into_values().map(|(r, _)| r + "\n").collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Columns {
        Columns {
            input: "text".into(),
            is_image: false,
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
        assert_eq!(rows[1].input, RowInput::Bad("not valid UTF-8".into()));
        c.input = "sentence".into();
        let e = read_rows(&t, &c).unwrap_err().to_string();
        assert!(
            e.contains("no column `sentence`") && e.contains("--text-column"),
            "{e}"
        );
    }

    #[test]
    fn shards_partition_the_rows() {
        let shards: Vec<Shard> = (0..3)
            .map(|i| Shard::parse(&format!("{i}/3")).unwrap())
            .collect();
        for pos in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.takes(pos)).count(), 1);
        }
        for bad in ["3/3", "1", "a/2", "0/0"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn merge_restores_input_order_and_refuses_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "{\"line\":1,\"x\":1}\n{\"line\":4,\"x\":4}\n").unwrap();
        std::fs::write(&b, "{\"line\":2,\"x\":2}\n").unwrap();
        let merged = merge(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(
            merged,
            "{\"line\":1,\"x\":1}\n{\"line\":2,\"x\":2}\n{\"line\":4,\"x\":4}\n"
        );
        std::fs::write(&b, "{\"line\":4,\"x\":4}\n").unwrap();
        assert!(merge(&[a, b])
            .unwrap_err()
            .to_string()
            .contains("input line 4"));
    }

    #[test]
    fn a_live_lock_refuses_a_second_run_and_a_stale_one_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.jsonl");
        let first = Lock::acquire(&out).unwrap();
        let e = Lock::acquire(&out).err().unwrap().to_string();
        assert!(e.contains("another calig run"), "{e}");
        drop(first);
        std::fs::write(format!("{}.lock", out.display()), "999999999").unwrap();
        let _again = Lock::acquire(&out).unwrap();
    }
}
