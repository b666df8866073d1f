//! calig: Context-Aware Layer-wise Integrated Gradients (CA-LIG) and baseline explainers for
//! Transformer classifiers, on Hugging Face checkpoints, in Rust.
//!
//! The stable surface is re-exported here: load a model ([`load_model`], or
//! [`load_model_with`] and a [`Runtime`]), explain an input with a [`Method`] and its
//! [`Params`] ([`explain()`], or [`prepare`] once and [`explain_prepared`] per method), and read
//! or draw the [`Explanation`] ([`render`]). The method table ([`Method::info`],
//! [`MethodInfo`]) and the settings table ([`SETTINGS`]) say what each method is and reads;
//! [`BatchJob`] runs a file of inputs and, with the `eval` feature, `EvalJob` a whole
//! evaluation.
//!
//! ```
//! use calig::{explain, load_model, DType, Device, ExplainInput, Method, Params};
//!
//! let m = load_model("tests/fixtures/bert", DType::F32, &Device::Cpu)?;
//! let mut params = Params::defaults(true);
//! // Settings by name, as the command line and Python take them.
//! params.apply([("steps", "8"), ("aggregation", "sum")], |s| s.name.to_string())?;
//! let text = ExplainInput::Text("a gorgeous , witty movie".into());
//! let e = explain(&m, &text, None, Method::Calig, &params)?;
//! assert!(e.signed && Method::Calig.info().signed);
//! assert_eq!(e.word_scores.len(), e.words.len());
//! // CA-LIG with sum aggregation and λ = 0.5: one fused map per block, layers\[0\] = h^(0).
//! assert_eq!(e.layers.as_ref().map(Vec::len), Some(m.config.num_layers + 1));
//! println!("{}", calig::render::text::render(&e, &Default::default()));
//! # Ok::<(), calig::CaligError>(())
//! ```
//!
//! Features: `cli` (default: the `calig` binary, with `eval`), `eval` (`calig eval`'s metrics,
//! statistics and plots), `fuzzing` (the fuzz targets' library side), `cuda`. A library user
//! who only explains can take `default-features = false` and compiles neither clap nor
//! plotters.

pub mod attr;
pub mod batch;
pub mod choice;
pub mod continuation;
pub mod data;
pub mod error;
#[cfg(feature = "eval")]
pub mod eval;
pub mod explain;
pub mod model;
pub mod render;
pub mod runtime;

/// Atomic file writes (a temporary file renamed into place): for the CLI's outputs.
#[doc(hidden)]
pub mod atomic;
/// The explicit CPU engine of the block stack (src/engine/), exposed for its tests and
/// benchmarks.
#[doc(hidden)]
pub mod engine;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz_targets;
pub mod progress;
pub(crate) mod store;

pub use attr::{Attribution, Method, MethodInfo, Params, Setting, SETTINGS};
pub use batch::Job as BatchJob;
pub use candle_core::{DType, Device};
pub use error::{CaligError, Result};
#[cfg(feature = "eval")]
pub use eval::job::{run as evaluate, EvalJob};
pub use explain::{explain, explain_prepared, prepare, ExplainInput, Explanation, Prepared};
pub use model::{load_model, load_model_with, LoadedModel};
pub use runtime::Runtime;
