//! Writing results: to stdout, or to a file that appears whole or not at all.

use anyhow::Result;
use std::io::Write;
use std::path::Path;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Writes `content` to `path` whole or not at all (calig::atomic); `None` prints to stdout.
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
        Some(p) => Ok(calig::atomic::write_file(p, content.as_bytes())?),
    }
}
