//! One error type for the library; every variant names the file, tensor or value at fault.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CaligError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    InvalidFile { path: PathBuf, reason: String },
    #[error("model not found: {0}")]
    ModelNotFound(String),
    #[error("weights in {}: {reason}", path.display())]
    Weights { path: PathBuf, reason: String },
    #[error("image {}: {reason}", path.display())]
    Image { path: PathBuf, reason: String },
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("{0}")]
    Unsupported(String),
    /// A broken invariant: a bug in calig, not in the input.
    #[error("internal error (a bug in calig; please report it): {0}")]
    Internal(String),
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
}

impl CaligError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, CaligError>;
