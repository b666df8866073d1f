//! Work that several runs on one prepared input can share. CA-LIG variants that differ only in
//! how they fuse and aggregate (λ, fusion, aggregation, propagation, ...) share one computation
//! of their layer paths and attention maps, the costly part; `calig eval` keeps one memo per
//! example so that its CA-LIG entries pay for those once.

use super::calig::Components;
use std::collections::HashMap;

/// Shared intermediate results of one input, keyed by what they depend on.
#[derive(Default)]
pub struct Memo {
    pub(super) calig: HashMap<String, Components>,
}
