//! Attribution methods, one per file, over a small shared core: the method table ([`method`],
//! and the `methods!` rows below), the settings table ([`settings`]) and the
//! settings' values ([`params`]), the prepared input ([`subject`]), what a method returns
//! ([`attribution`]), the path-integration engine ([`path`]), gradients at the input
//! ([`grads`]), quadrature and reference inputs ([`baseline`]).

pub mod attribution;
pub mod baseline;
pub mod expected;
pub mod grads;
pub mod memo;
pub mod method;
pub mod objective;
pub mod params;
pub mod path;
pub mod quadrature;
pub mod reference;
pub mod settings;
pub mod subject;

// The method table: one row per method (its file holds `pub const INFO: MethodInfo`).
method::methods! {
    Calig => calig,
    Lig => layer_ig,
    Ig => ig,
    Gxi => gxi,
    Saliency => saliency,
    Attention => attention,
    Rollout => rollout,
    Gae => gae,
    Occlusion => occlusion,
    Attnlrp => attnlrp,
    Chefer2021 => chefer2021,
}

pub use attribution::{Attribution, Delta, Scores, DELTA_WARNING_SHARE};
pub use memo::Memo;
pub use method::{Completeness, MethodInfo};
pub use objective::{Contrast, Objective};
pub use params::{
    Aggregation, AttentionMode, AttentionSign, Cls, Fusion, Heads, LayerRelevance, Layers, Params,
    Propagation, Reduce, Specials,
};
pub use settings::{Setting, SETTINGS};
pub use subject::Subject;

use crate::error::Result;

/// Runs `method` on a prepared input with `params` (checked first).
pub fn run(method: Method, subject: &Subject, params: &Params) -> Result<Attribution> {
    run_with(method, subject, params, &mut Memo::default())
}

/// [`run`], sharing work with the earlier runs on the same input that `memo` holds.
pub fn run_with(
    method: Method,
    subject: &Subject,
    params: &Params,
    memo: &mut Memo,
) -> Result<Attribution> {
    params.validate()?;
    match method.info().run_shared {
        Some(shared) => shared(subject, params, memo),
        None => (method.info().run)(subject, params),
    }
}
