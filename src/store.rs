//! A resumable JSON-lines file: records are appended and flushed one by one, so a run that is
//! interrupted (even by `kill -9`) loses at most the record being written. On reopening, every
//! complete line is read back and a torn last line is cut off before appending resumes.
//! Shared by the evaluation cache and data-set runs.

use crate::error::{CaligError, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The complete records of a store's file, read without writing (a missing file has none; a
/// torn last line is left out, not cut).
#[cfg(feature = "eval")]
pub fn read_records<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    match File::open(path) {
        Ok(file) => Ok(complete_records(&file, path)?.0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(CaligError::io(path, e)),
    }
}

/// The records of every complete line of `file` (named `path` in errors) and the offset where
/// the complete lines end.
fn complete_records<T: DeserializeOwned>(file: &File, path: &Path) -> Result<(Vec<T>, u64)> {
    let io = |e| CaligError::io(path, e);
    let mut records = Vec::new();
    let mut good_end = 0u64;
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    let mut offset = 0u64;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(io)?;
        if n == 0 {
            break;
        }
        offset += n as u64;
        // A line without its newline is a torn write: cut it. A complete line that does
        // not parse is someone else's data: refuse rather than truncate it.
        if !line.ends_with('\n') {
            break;
        }
        let r =
            serde_json::from_str::<T>(line.trim_end()).map_err(|e| CaligError::InvalidFile {
                path: path.to_path_buf(),
                reason: format!(
                    "line {}: not a record of this store: {e}",
                    records.len() + 1
                ),
            })?;
        records.push(r);
        good_end = offset;
    }
    Ok((records, good_end))
}

pub struct JsonlStore {
    path: PathBuf,
    file: File,
}

impl JsonlStore {
    /// Opens (creating parents and the file as needed) and returns the complete records already
    /// there, in file order.
    pub fn open<T: DeserializeOwned>(path: &Path) -> Result<(Self, Vec<T>)> {
        let io = |e| CaligError::io(path, e);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let (records, good_end) = complete_records(&file, path)?;
        if file.metadata().map_err(io)?.len() != good_end {
            file.set_len(good_end).map_err(io)?;
            file.seek(SeekFrom::End(0)).map_err(io)?;
        }
        Ok((
            Self {
                path: path.to_path_buf(),
                file,
            },
            records,
        ))
    }

    /// Appends one record as one line and flushes it to the operating system.
    pub fn append<T: Serialize>(&mut self, record: &T) -> Result<()> {
        let mut line = serde_json::to_string(record)
            .map_err(|e| CaligError::InvalidInput(format!("cannot serialise a record: {e}")))?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| CaligError::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_lines_are_cut_and_appending_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/s.jsonl");
        {
            let (mut s, old) = JsonlStore::open::<Vec<u32>>(&p).unwrap();
            assert!(old.is_empty());
            s.append(&vec![1u32]).unwrap();
            s.append(&vec![2u32, 3]).unwrap();
        }
        // A torn record, as a kill in the middle of a write leaves it.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"[4, 5").unwrap();
        drop(f);
        let (mut s, old) = JsonlStore::open::<Vec<u32>>(&p).unwrap();
        assert_eq!(old, vec![vec![1], vec![2, 3]]);
        s.append(&vec![6u32]).unwrap();
        drop(s);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "[1]\n[2,3]\n[6]\n");
        // A complete foreign line is an error, and the file is left as it was.
        std::fs::write(&p, "[1]\n{\"x\": 1}\n").unwrap();
        let err = JsonlStore::open::<Vec<u32>>(&p).err().unwrap().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "[1]\n{\"x\": 1}\n");
    }
}
