//! An exclusive claim on an output file, so that two runs never write one file.

use crate::error::{CaligError, Result};
use std::path::{Path, PathBuf};

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

#[cfg(test)]
mod tests {
    use super::*;

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
