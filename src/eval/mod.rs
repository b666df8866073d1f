//! Evaluation of explanations, beside the methods in [`crate::attr`]: faithfulness by removal
//! (ERASER comprehensiveness/sufficiency, log-odds, deletion/insertion, the "Beyond Intuition"
//! perturbation test), plausibility against human rationales (token-F1@k, IOU-F1, AUPRC),
//! paired statistics, the attribution cache, tables and plots. notes/evaluation.md and
//! docs/results.md give the protocols and the numbers.

pub mod cache;
pub mod faithfulness;
pub mod metrics;
pub mod plausibility;
pub mod plot;
pub mod removal;
pub mod report;
pub mod run;
pub mod spec;
pub mod stats;
pub mod units;
