//! calig: Context-Aware Layer-wise Integrated Gradients (CA-LIG) and baseline explainers for
//! Transformer classifiers, on Hugging Face checkpoints, in Rust.

pub mod error;
pub mod model;

pub use error::{CaligError, Result};
