//! Writing results: to stdout, or to a file that appears whole or not at all.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Writes `content` to `path` through a temporary file in the same directory and a rename, so
/// that a failure never leaves a partial file; `None` prints to stdout.
pub fn emit(path: Option<&Path>, content: &str) -> Result<()> {
    match path {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(content.as_bytes())?;
            if !content.ends_with('\n') {
                out.write_all(b"\n")?;
            }
            Ok(())
        }
        Some(p) => {
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let name = p.file_name().context("output path has no file name")?;
            let tmp = dir.join(format!(".{}.calig-tmp", name.to_string_lossy()));
            std::fs::write(&tmp, content)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, p).with_context(|| format!("cannot write {}", p.display()))
        }
    }
}
