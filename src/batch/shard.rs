//! Deterministic shards of a batch for job arrays, and their merge back into input order.

use crate::error::{CaligError, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn invalid(path: &Path, line: usize, reason: impl Into<String>) -> CaligError {
    CaligError::InvalidFile {
        path: path.to_path_buf(),
        reason: format!("line {line}: {}", reason.into()),
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
}
