//! Output files that appear whole or not at all: written to a temporary file beside the target,
//! then renamed over it. A failed write (a full disk, a read-only directory) removes the
//! temporary file and leaves any earlier file at the target untouched. A target that exists
//! and is not a regular file (a device such as /dev/stdout, a named pipe) is written directly:
//! renaming over it would replace it.

use crate::error::{CaligError, Result};
use std::io::Write;
use std::path::Path;

pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() && !meta.is_dir() {
            return std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|mut f| f.write_all(bytes).and_then(|()| f.flush()))
                .map_err(|e| CaligError::io(path, e));
        }
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| CaligError::io(dir, e))?;
    let name = path
        .file_name()
        .ok_or_else(|| CaligError::InvalidInput(format!("{} has no file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.{}.partial",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CaligError::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_keeps_the_old_one_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        write_file(&p, b"first").unwrap();
        write_file(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        // A directory in the way: the write fails and nothing is left behind.
        let blocked = dir.path().join("sub");
        std::fs::create_dir(&blocked).unwrap();
        assert!(write_file(&blocked, b"x").is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_full_device_is_an_error_and_stays_a_device() {
        let full = Path::new("/dev/full");
        if !full.exists() {
            return;
        }
        let e = write_file(full, b"data").unwrap_err().to_string();
        assert!(
            e.contains("/dev/full") && e.contains("No space left"),
            "{e}"
        );
        assert!(
            !std::fs::metadata(full).unwrap().is_file(),
            "/dev/full was replaced"
        );
    }
}
