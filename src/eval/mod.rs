//! Evaluation of explanations, beside the methods in [`crate::attr`]: faithfulness by removal
//! (ERASER comprehensiveness/sufficiency, log-odds, deletion/insertion, the "Beyond Intuition"
//! perturbation test), plausibility against human rationales (token-F1@k, IOU-F1, AUPRC),
//! ferret's benchmark metrics as ferret computes them, paired statistics, the attribution
//! cache, tables and plots. docs/evaluation.md gives the protocols, docs/results.md the numbers.

pub mod cache;
mod distinct_inputs;
mod example;
pub mod faithfulness;
pub mod ferret;
pub mod image_removal;
pub mod job;
pub mod m4;
pub mod measure;
pub mod metrics;
pub mod options;
pub mod outcome;
mod output;
pub mod plausibility;
pub mod plot;
pub mod rationales;
pub mod removal;
pub mod report;
pub mod run;
pub mod sanity;
mod sanity_report;
mod scores;
pub mod spec;
pub mod stats;
pub mod units;

/// FNV-1a over `bytes` from the state `start`: stable seeds and content keys (not for security).
pub(crate) fn fnv1a(start: u64, bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(start, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
