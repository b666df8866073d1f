//! calig: Context-Aware Layer-wise Integrated Gradients (CA-LIG) and baseline explainers for
//! Transformer classifiers, on Hugging Face checkpoints, in Rust.

pub mod atomic;
pub mod attr;
pub mod batch;
pub mod choice;
pub mod data;
pub mod engine;
pub mod error;
pub mod eval;
pub mod explain;
pub mod fuzz_targets;
pub mod model;
pub mod render;
pub mod runtime;
pub mod store;

pub use error::{CaligError, Result};
